// The image pipeline: source bytes + TransformSpec → encoded image bytes, with libvips.
//
// Each call runs one fixed list of steps (written once, in pipeline.cc) over a context of its
// own, in imgproxy's order except that frames are oriented first, because sizes, crops and
// gravities refer to the output's orientation (after EXIF orientation, rotate and flips). The
// header is checked against the pixel limit before any pixel is decoded, every size is planned
// from it, and the decode shrinks on load where the format allows. The timeout is checked
// between steps and kills libvips' evaluation inside them. libvips failures become Errors at one
// boundary; no libvips text reaches the caller.
//
// The caller keeps the source and the spec alive for the call; results are values.
// PipelineLimits is read-only once the server runs and shared by every call. Process() and
// ProcessFile() may run on any number of threads at once, once InitVips() has run.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/memory_budget.h"
#include "common/status.h"
#include "transforms/spec.h"

namespace imgorigin::transforms {

// The pipeline's configuration: limits, encoder defaults and the watermark image. Read-only once
// the server runs; shared by every call.
struct PipelineLimits {
  int64_t max_src_pixels = 50'000'000;        // width × height × frames, from the header
  int max_result_dimension = 8192;            // each side of the output
  std::chrono::milliseconds timeout{10'000};  // processing is killed past this
  // Animated GIF/WebP with more frames than this are processed as their first frame only.
  int max_animation_frames = 100;
  // JPEGs with more scans (SOS segments) than this are refused before decoding: libjpeg runs
  // every scan over the whole image in one call the deadline cannot stop. Encoders write at most
  // a few dozen (libjpeg's progressive default is 10, mozjpeg's under 20).
  int max_jpeg_scans = 100;
  // A render whose estimated memory (render_cost.h) is over this is refused (413) before
  // anything is decoded.
  int64_t max_render_memory = int64_t{1} << 30;
  // Renders reserve their estimate from this budget, shared by every render of the process, and
  // wait (within their timeout) while it is in use; null = no total budget.
  std::shared_ptr<common::MemoryBudget> memory_budget;
  // Output pixels per frame, per format whose encoder takes a whole frame in one call that the
  // deadline cannot stop (render_cost.h): sized so that one frame's encode fits in the default
  // timeout at the slowest rate bench_encode measured (AVIF 0.5 Mpx/s, GIF 0.25, WebP 4, JXL 3).
  std::map<ImageFormat, int64_t> max_result_pixels = {{ImageFormat::kAvif, 2048 * 2048},
                                                      {ImageFormat::kJxl, 4096 * 4096},
                                                      {ImageFormat::kWebp, 4096 * 4096},
                                                      {ImageFormat::kGif, 1448 * 1448}};
  // Quality when the URL names none: `quality` for every lossy format, unless `format_quality`
  // has an entry for the output format (imgproxy's IMGPROXY_QUALITY / IMGPROXY_FORMAT_QUALITY).
  int quality = 80;
  std::map<ImageFormat, int> format_quality = {
      {ImageFormat::kWebp, 79}, {ImageFormat::kAvif, 50}, {ImageFormat::kJxl, 77}};
  bool jpeg_progressive = false;  // IMGPROXY_JPEG_PROGRESSIVE
  // Encoder effort, as imgproxy names it: AVIF speed 0 (slowest, smallest) to 9 (fastest;
  // libvips' effort is 9 − speed), IMGPROXY_AVIF_SPEED; WebP effort 0 (fastest) to 6,
  // IMGPROXY_WEBP_EFFORT. Measured in docs/transforms.md.
  int avif_speed = 8;
  int webp_effort = 4;
  bool png_interlaced = false;    // IMGPROXY_PNG_INTERLACED
  // The image "wm:" lays over results: a file read by LoadWatermark(), kept as encoded bytes.
  // Empty = no watermark (then "wm:" with a non-zero opacity is a 400).
  std::string watermark_path;
  std::string watermark_data;

  // Reads watermark_path into watermark_data (no-op when the path is empty) and checks it decodes.
  common::Result<void> LoadWatermark();
  common::Result<void> Validate() const;
};

// Bumped whenever the pipeline's own encoder settings change the bytes it writes for the same
// spec (2: PNG of JPEG sources filtered): part of every variant key, so a new release never
// answers with an old release's bytes under the same ETag.
inline constexpr int kEncoderRevision = 2;

struct EncodedImage {
  std::string bytes;
  ImageFormat format = ImageFormat::kUnknown;
  int width = 0;
  int height = 0;
  // Time in the encoder. libvips evaluates on demand: the encoder pulls every row through the
  // steps before it, so this is the decode and transform of the pixels plus their encoding.
  double encode_seconds = 0;
};

// What a checked source turned out to be. Width and height are as displayed: after the EXIF
// orientation, as /info reports them.
struct SourceFacts {
  ImageFormat format = ImageFormat::kUnknown;
  int width = 0;
  int height = 0;
  int pages = 1;
};

// Side of the thumbnail CheckSourceFile() decodes into.
inline constexpr int kCheckThumbnail = 64;

// Initialises libvips for a server process: no operation cache, concurrency 1 per call (the
// CPU pool gives the parallelism), untrusted loaders blocked when libvips supports that.
// Safe to call more than once.
void InitVips(const char* argv0);

// Transforms `source` (a whole encoded file) according to `spec`. Output format: spec.format,
// or the source's format when that is kUnknown (falling back to JPEG/PNG when the source format
// cannot be written). A spec.format the origin negotiated (spec.auto_format) falls back to WebP
// for animated sources when it cannot animate. raw and matching skip_processing return `source`
// unchanged. Errors: 415 not an image we read (or an SVG with external references), 422
// undecodable or truncated, 413 over the pixel limit, 400 impossible request, 504 timeout.
common::Result<EncodedImage> Process(std::string_view source, const TransformSpec& spec,
                                     const PipelineLimits& limits);

// Process() for a source stored in the file at `path` (large originals streamed to disk): libvips
// reads the file itself, sequentially where the spec allows, so the encoded source is never held
// in memory. Same results and errors as Process() on the file's bytes.
common::Result<EncodedImage> ProcessFile(const std::string& path, const TransformSpec& spec,
                                         const PipelineLimits& limits);

// Checks that the file at `path` is an original renders will accept, before it is stored (an
// upload): the format, SVG, JPEG-scan and pixel checks of ProcessFile(), then a decode of every
// pixel (shrunk on load) into a small thumbnail, so a truncated or corrupt file is refused now.
// Same errors as ProcessFile(); bounded by limits.timeout.
common::Result<SourceFacts> CheckSourceFile(const std::string& path, const PipelineLimits& limits);

}  // namespace imgorigin::transforms
