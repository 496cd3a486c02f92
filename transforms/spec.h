// TransformSpec: what to do to a source image, as an immutable value.
//
// The parser builds one from URL options; the pipeline reads it; the cache keys on Canonical().
// Two specs that produce the same image have the same canonical string: defaults are left out
// and every value is spelled one way, so long/short option names, option order and spelled-out
// defaults all fold to one key. A value type with no behaviour beyond Canonical(); any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "transforms/format.h"

namespace imgorigin::transforms {

enum class ResizingType { kFit, kFill, kFillDown, kForce, kAuto };

enum class GravityType {
  kCenter,
  kNorth,
  kSouth,
  kEast,
  kWest,
  kNorthEast,
  kNorthWest,
  kSouthEast,
  kSouthWest,
  kSmart,       // libvips' attention-based crop
  kFocusPoint,  // x/y are relative coordinates 0..1 of the point to keep in view
};

struct Gravity {
  GravityType type = GravityType::kCenter;
  // Compass gravities: offsets in pixels (or, when in (-1, 1), a fraction of the image). Focus
  // point: the point's relative coordinates.
  double x = 0;
  double y = 0;
  bool operator==(const Gravity&) const = default;
};

struct Rgb {
  uint8_t r = 255, g = 255, b = 255;
  bool operator==(const Rgb&) const = default;
};

struct Crop {
  // Pixels when >= 1, a fraction of the source when in (0, 1); 0 = full extent.
  double width = 0;
  double height = 0;
  std::optional<Gravity> gravity;  // unset: use the spec's gravity
  bool operator==(const Crop&) const = default;
};

struct TransformSpec {
  ResizingType resizing_type = ResizingType::kFit;
  int width = 0;   // 0 = derived from the other side (or the source when both are 0)
  int height = 0;
  double dpr = 1;
  bool enlarge = false;
  bool extend = false;
  Gravity extend_gravity;  // where the image sits on the extended canvas
  Gravity gravity;
  std::optional<Crop> crop;
  int rotate = 0;  // 0, 90, 180, 270 (applied after auto-rotate)
  bool flip_horizontal = false;
  bool flip_vertical = false;
  bool auto_rotate = true;
  double blur = 0;     // Gaussian sigma; 0 = off
  double sharpen = 0;  // sigma; 0 = off
  std::optional<Rgb> background;
  int quality = 0;  // 1..100; 0 = the format's default
  bool strip_metadata = true;
  ImageFormat format = ImageFormat::kUnknown;  // kUnknown = same as the source (or negotiated)

  bool operator==(const TransformSpec&) const = default;

  // Stable text form: only non-default fields, fixed order, fixed number formatting.
  // Example: "rs:fill:300:400:0/g:sm/q:80/f:webp". The empty spec gives "".
  std::string Canonical() const;
};

}  // namespace imgorigin::transforms
