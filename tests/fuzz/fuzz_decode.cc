// Fuzz target: the decode path (transforms::Process and transforms::Inspect) on arbitrary bytes.
//
// Input layout: byte 0 picks one of a few transform specs, byte 1 the output format (0 = the
// spec's own), the rest is the source file. Limits are small (4 Mpx, 2 s, 1024 px results, 8
// frames) so mutated headers cannot make one input take long. Invariants, beyond "no crash, no
// UB, no leak in our code":
//   - failures carry a client-facing code (400/413/415/422/504), never 500;
//   - a result has a format, non-empty bytes that sniff as that format and decode again, and
//     sides within the limit;
//   - Inspect() of a source reports positive sides, a sane page count and EXIF orientation.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/fuzz_common.h"
#include "transforms/format.h"
#include "transforms/inspect.h"
#include "transforms/pipeline.h"
#include "transforms/spec.h"

namespace {

using imgorigin::common::ErrorCode;
using namespace imgorigin::transforms;

PipelineLimits Limits() {
  PipelineLimits limits;
  limits.max_src_pixels = 4'000'000;
  limits.max_result_dimension = 1024;
  limits.timeout = std::chrono::milliseconds(2000);
  limits.max_animation_frames = 8;
  return limits;
}

std::vector<TransformSpec> Specs() {
  std::vector<TransformSpec> specs;
  {  // 0: re-encode as is (the source's own format), capped by max_result_dimension
    TransformSpec s;
    specs.push_back(s);
  }
  {  // 1: thumbnail
    TransformSpec s;
    s.width = 32;
    s.height = 32;
    specs.push_back(s);
  }
  {  // 2: fill with smart crop, low quality
    TransformSpec s;
    s.resizing_type = ResizingType::kFill;
    s.width = 48;
    s.height = 24;
    s.gravity = Gravity{GravityType::kSmart};
    s.quality = 40;
    specs.push_back(s);
  }
  {  // 3: crop, rotate, flip, blur, no auto-rotate
    TransformSpec s;
    s.crop = Crop{0.5, 0.5, Gravity{GravityType::kSouthEast, 1, 2}};
    s.rotate = 90;
    s.flip_horizontal = true;
    s.auto_rotate = false;
    s.blur = 1.5;
    s.width = 40;
    specs.push_back(s);
  }
  {  // 4: trim, extend, padding, background, pixelate, sharpen, keep metadata
    TransformSpec s;
    s.trim = Trim{};
    s.width = 50;
    s.height = 20;
    s.extend = true;
    s.extend_gravity = Gravity{GravityType::kFocusPoint, 0.2, 0.8};
    s.padding = Padding{1, 2, 3, 4};
    s.background = Rgb{10, 20, 30};
    s.pixelate = 3;
    s.sharpen = 0.7;
    s.strip_metadata = false;
    s.strip_color_profile = false;
    specs.push_back(s);
  }
  {  // 5: force + enlarge + dpr + zoom + min sizes + extend_aspect_ratio
    TransformSpec s;
    s.resizing_type = ResizingType::kForce;
    s.width = 9;
    s.height = 7;
    s.enlarge = true;
    s.dpr = 2;
    s.zoom_x = 1.5;
    s.zoom_y = 0.5;
    s.min_width = 12;
    s.extend_aspect_ratio = true;
    specs.push_back(s);
  }
  {  // 6: fill-down / auto with a focus point, max_bytes loop
    TransformSpec s;
    s.resizing_type = ResizingType::kAuto;
    s.width = 30;
    s.height = 60;
    s.gravity = Gravity{GravityType::kFocusPoint, 0.9, 0.1};
    s.max_bytes = 600;
    specs.push_back(s);
  }
  {  // 7: fill-down, per-format quality, enforce thumbnail
    TransformSpec s;
    s.resizing_type = ResizingType::kFillDown;
    s.width = 2000;
    s.height = 16;
    s.format_quality = {{ImageFormat::kJpeg, 10}, {ImageFormat::kWebp, 90}};
    s.enforce_thumbnail = true;
    specs.push_back(s);
  }
  {  // 8: raw
    TransformSpec s;
    s.raw = true;
    specs.push_back(s);
  }
  {  // 9: skip processing for some formats, else a small resize
    TransformSpec s;
    s.skip_processing = {ImageFormat::kPng, ImageFormat::kGif};
    s.width = 20;
    specs.push_back(s);
  }
  return specs;
}

constexpr ImageFormat kFormats[] = {
    ImageFormat::kUnknown, ImageFormat::kJpeg, ImageFormat::kPng,  ImageFormat::kWebp,
    ImageFormat::kGif,     ImageFormat::kAvif, ImageFormat::kTiff, ImageFormat::kHeic,
    ImageFormat::kJxl,     ImageFormat::kSvg,  ImageFormat::kBmp,  ImageFormat::kIco};

bool ClientError(ErrorCode code) {
  return code == ErrorCode::kInvalidArgument || code == ErrorCode::kTooLarge ||
         code == ErrorCode::kUnsupported || code == ErrorCode::kInvalidImage ||
         code == ErrorCode::kDeadlineExceeded;
}

void CheckInspect(std::string_view source, const PipelineLimits& limits) {
  const auto info = Inspect(source, limits);
  if (!info) {
    FUZZ_CHECK(ClientError(info.error().code), "Inspect: code %d: %s",
               static_cast<int>(info.error().code), info.error().message.c_str());
    return;
  }
  FUZZ_CHECK(info->width > 0 && info->height > 0, "Inspect: %dx%d", info->width, info->height);
  FUZZ_CHECK(info->format != ImageFormat::kUnknown, "Inspect: unknown format");
  FUZZ_CHECK(info->bytes == static_cast<int64_t>(source.size()), "Inspect: bytes");
  FUZZ_CHECK(info->pages >= 1, "Inspect: %d pages", info->pages);
  FUZZ_CHECK(info->orientation >= 1 && info->orientation <= 8, "Inspect: orientation %d",
             info->orientation);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool initialised = [] {
    setenv("VIPS_WARNING", "0", 0);  // libvips' per-file warnings are noise here
    InitVips("fuzz_decode");
    return true;
  }();
  static const PipelineLimits limits = Limits();
  static const std::vector<TransformSpec> specs = Specs();
  // FUZZ_DECODE_VERBOSE=1 prints each input's outcome (to check what a corpus exercises).
  static const bool verbose = std::getenv("FUZZ_DECODE_VERBOSE") != nullptr;
  (void)initialised;
  if (size < 2) return 0;

  TransformSpec spec = specs[data[0] % specs.size()];
  const ImageFormat format = kFormats[data[1] % std::size(kFormats)];
  if (format != ImageFormat::kUnknown) spec.format = format;
  spec.auto_format = (data[1] & 0x80) != 0;
  const std::string_view source(reinterpret_cast<const char*>(data) + 2, size - 2);

  CheckInspect(source, limits);

  const auto result = Process(source, spec, limits);
  if (verbose) {
    std::fprintf(stderr, "decode: %zu bytes, spec \"%s\" -> %s\n", source.size(),
                 spec.Canonical().c_str(),
                 result ? (std::string(FormatExtension(result->format)) + " " +
                           std::to_string(result->width) + "x" + std::to_string(result->height) +
                           " " + std::to_string(result->bytes.size()) + " bytes")
                              .c_str()
                        : result.error().message.c_str());
  }
  if (!result) {
    FUZZ_CHECK(ClientError(result.error().code), "Process: code %d: %s (spec \"%s\")",
               static_cast<int>(result.error().code), result.error().message.c_str(),
               spec.Canonical().c_str());
    return 0;
  }
  // raw is unchecked (as in imgproxy): any bytes go out as they came, even non-images.
  if (spec.raw) {
    FUZZ_CHECK(result->bytes == source, "Process: raw changed the bytes");
    return 0;
  }
  FUZZ_CHECK(!result->bytes.empty(), "Process: empty result");
  FUZZ_CHECK(result->format != ImageFormat::kUnknown, "Process: unknown result format");
  if (result->bytes == source) return 0;  // served untouched (skip_processing, nothing to do)
  FUZZ_CHECK(SniffFormat(result->bytes) == result->format, "Process: result sniffs as %d, not %d",
             static_cast<int>(SniffFormat(result->bytes)), static_cast<int>(result->format));
  FUZZ_CHECK(result->width > 0 && result->height > 0 &&
                 result->width <= limits.max_result_dimension &&
                 result->height <= limits.max_result_dimension,
             "Process: %dx%d", result->width, result->height);
  const auto again = Inspect(result->bytes, limits);
  FUZZ_CHECK(again.has_value(), "Process: result (%s) does not decode: %s",
             std::string(FormatExtension(result->format)).c_str(),
             again ? "" : again.error().message.c_str());
  return 0;
}
