// The libvips pipeline: source bytes + TransformSpec → encoded image bytes.
//
// Reads the header first and refuses sources over the pixel limit before decoding anything;
// loads with shrink-on-load where the format allows; runs the spec's steps in imgproxy's order
// (crop → resize → rotate/flip → extend → blur/sharpen → background → encode). Sizes, crops and
// gravities refer to the output's orientation (after EXIF orientation, rotate and flips), so
// the shrunk image is oriented first and then cropped and resized. libvips
// exceptions are caught here and turned into Errors; no libvips text reaches the caller.
// Process() may run on any number of threads at once (call InitVips() once per process first).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "transforms/spec.h"

namespace imgorigin::transforms {

struct PipelineLimits {
  int64_t max_src_pixels = 50'000'000;  // width × height × frames, from the header
  int max_result_dimension = 8192;      // each side of the output
  std::chrono::milliseconds timeout{10'000};  // processing is killed past this
  common::Result<void> Validate() const;
};

struct EncodedImage {
  std::string bytes;
  ImageFormat format = ImageFormat::kUnknown;
  int width = 0;
  int height = 0;
};

// Initialises libvips for a server process: no operation cache, concurrency 1 per call (the
// CPU pool gives the parallelism), untrusted loaders blocked when libvips supports that.
// Safe to call more than once.
void InitVips(const char* argv0);

// Transforms `source` (a whole encoded file) according to `spec`. Output format: spec.format,
// or the source's format when that is kUnknown (falling back to JPEG/PNG when the source format
// cannot be written).
common::Result<EncodedImage> Process(std::string_view source, const TransformSpec& spec,
                                     const PipelineLimits& limits);

}  // namespace imgorigin::transforms
