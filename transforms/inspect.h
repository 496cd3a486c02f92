// Inspect: what the /info endpoint reports about a source image.
//
// Reads the header for sizes and properties (no pixel decode), then decodes a thumbnail of at
// most kInspectThumbnail pixels per side (shrink-on-load where the format allows) for the
// dominant colour and the BlurHash, so the work is bounded whatever the source's size. Same
// format rules as Process(): SVGs must be self-contained, blocked loaders are 415. Any thread
// (after InitVips()).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "transforms/format.h"
#include "transforms/pipeline.h"
#include "transforms/spec.h"

namespace imgorigin::transforms {

inline constexpr int kInspectThumbnail = 32;

struct ImageInfo {
  // As displayed: width and height after the EXIF orientation is applied.
  int width = 0;
  int height = 0;
  ImageFormat format = ImageFormat::kUnknown;
  int64_t bytes = 0;  // size of the encoded source
  bool alpha = false;
  int pages = 1;             // frames of an animation, pages of a multi-page TIFF/HEIF
  int orientation = 1;       // EXIF orientation tag, 1–8 (1 when absent)
  std::string colour_space;  // libvips' name: "srgb", "cmyk", "b-w", "rgb16", "grey16", …
  Rgb dominant_colour;       // most common colour of the thumbnail (opaque pixels)
  std::string blurhash;      // 4×3 components
};

// Errors: 415 not a supported image, 422 undecodable, 413 over limits.max_src_pixels or
// limits.max_jpeg_scans, 504 past limits.timeout (the decode is stopped, as in Process()).
common::Result<ImageInfo> Inspect(std::string_view source, const PipelineLimits& limits);

}  // namespace imgorigin::transforms
