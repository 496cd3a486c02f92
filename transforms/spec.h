// TransformSpec: what to do to a source image, as an immutable value.
//
// The parser builds one from URL options; the pipeline reads it; the cache keys on Canonical().
// Two specs that produce the same image have the same canonical string: defaults are left out
// and every value is spelled one way, so long/short option names, option order and spelled-out
// defaults all fold to one key. A value type with no behaviour beyond Canonical(); any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

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

// trim: removes a border of (nearly) one colour.
struct Trim {
  double threshold = 10;      // max colour distance still counted as border
  std::optional<Rgb> colour;  // unset: the top-left pixel's colour
  bool equal_horizontal = false;  // cut as much from the left as from the right
  bool equal_vertical = false;    // and from the top as from the bottom
  bool operator==(const Trim&) const = default;
};

// padding: CSS order; CSS pixels (multiplied by dpr).
struct Padding {
  int top = 0, right = 0, bottom = 0, left = 0;
  bool operator==(const Padding&) const = default;
};

// watermark: the server's configured watermark image laid over the result.
struct Watermark {
  double opacity = 0;          // (0, 1]; 0 = no watermark
  Gravity position;            // compass types only; offsets in CSS pixels
  bool replicate = false;      // "re": tile over the whole image (position is ignored)
  double scale = 0;            // watermark width relative to the image width; 0 = natural size
  bool operator==(const Watermark&) const = default;
};

struct TransformSpec {
  ResizingType resizing_type = ResizingType::kFit;
  int width = 0;   // 0 = derived from the other side (or the source when both are 0)
  int height = 0;
  int min_width = 0;  // the result is at least this wide (may enlarge); 0 = off
  int min_height = 0;
  double zoom_x = 1;  // multiplies the resize scale (and the box), after resizing_type
  double zoom_y = 1;
  double dpr = 1;
  bool enlarge = false;
  bool extend = false;
  Gravity extend_gravity;  // where the image sits on the extended canvas
  // extend_aspect_ratio: pads the result to width:height's aspect ratio.
  bool extend_aspect_ratio = false;
  Gravity extend_aspect_ratio_gravity;
  Gravity gravity;
  std::optional<Crop> crop;
  std::optional<Trim> trim;
  Padding padding;
  int rotate = 0;  // 0, 90, 180, 270 (applied after auto-rotate)
  bool flip_horizontal = false;
  bool flip_vertical = false;
  bool auto_rotate = true;
  double blur = 0;     // Gaussian sigma; 0 = off
  double sharpen = 0;  // sigma; 0 = off
  int pixelate = 0;    // block size in CSS pixels; 0 = off
  std::optional<Rgb> background;
  std::optional<Watermark> watermark;
  int quality = 0;  // 1..100; 0 = the format's default
  std::map<ImageFormat, int> format_quality;  // fq: per-format quality, wins over `quality`
  int64_t max_bytes = 0;                      // lower quality until the result fits; 0 = off
  bool strip_metadata = true;
  bool keep_copyright = true;       // with strip_metadata: keep the EXIF copyright
  bool strip_color_profile = true;  // convert to sRGB and drop the ICC profile
  bool enforce_thumbnail = false;   // HEIF/AVIF: decode the embedded thumbnail if there is one
  std::vector<ImageFormat> skip_processing;  // sorted, unique: sources served untouched
  bool raw = false;                          // serve the source untouched, whatever its format
  ImageFormat format = ImageFormat::kUnknown;  // kUnknown = same as the source (or negotiated)
  // Set by the origin when `format` was chosen from Accept rather than named in the URL: the
  // cache key carries the format separately, and an animated source that the chosen format
  // cannot animate falls back to WebP instead of losing its frames.
  bool auto_format = false;

  bool operator==(const TransformSpec&) const = default;

  // The quality the encoder uses for `out`: fq for that format, else q, else 0 (default).
  int QualityFor(ImageFormat out) const;

  // Stable text form: only non-default fields, fixed order, fixed number formatting.
  // Example: "rs:fill:300:400:0/g:sm/q:80/f:webp". The empty spec gives "".
  std::string Canonical() const;
};

}  // namespace imgorigin::transforms
