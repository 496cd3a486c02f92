#include "transforms/render_cost.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

namespace imgorigin::transforms {
namespace {

// libvips' region buffers, tile caches and thread state for one pipeline.
constexpr int64_t kPipelineAllowance = 16 << 20;

// Bytes per output pixel an encoder that takes the whole image holds while it runs (its input
// copy, colour conversion and its own working planes), per frame.
int64_t EncoderBytesPerPixel(ImageFormat format) {
  switch (format) {
    case ImageFormat::kAvif:
    case ImageFormat::kHeic:
      return 16;
    case ImageFormat::kJxl:
      return 24;
    case ImageFormat::kWebp:
      return 10;
    case ImageFormat::kGif:
      return 8;
    default:
      return 0;  // JPEG, PNG and TIFF are written line by line
  }
}

// What the loader holds besides the pixels it hands over, in bytes per source pixel.
double LoaderBytesPerPixel(const RenderFootprint& f) {
  const double sample = f.bands * f.sample_bytes;
  switch (f.src_format) {
    case ImageFormat::kJpeg:
      // libjpeg keeps 16-bit coefficients for every component of the full-size image.
      return f.progressive ? f.bands * 2.0 : 0;
    case ImageFormat::kPng:
      return f.progressive ? sample : 0;
    case ImageFormat::kGif:
      return 4 * 2;  // RGBA canvas and the previous frame, for disposal
    case ImageFormat::kWebp:
      return 4 * 2 * f.decode_scale * f.decode_scale;  // frame and animation canvas
    case ImageFormat::kAvif:
    case ImageFormat::kHeic:
      return sample * 1.5;  // the decoded planes and their RGB conversion
    case ImageFormat::kJxl:
      return sample * 2;
    case ImageFormat::kSvg:
      return 4 * f.decode_scale * f.decode_scale;  // cairo's surface, at the rendered size
    default:
      return 0;  // TIFF and the rest read strips or tiles
  }
}

bool HeaderFlag(const vips::VImage& header, const char* name) {
  return header.get_typeof(name) != 0 && header.get_int(name) != 0;
}

std::string Mebibytes(int64_t bytes) { return std::to_string((bytes + (1 << 19)) >> 20) + " MiB"; }

// Output megapixels per second, the slowest seen in bench_encode (2 cores shared with builds,
// synthetic photos with grain, the pipeline's encoder settings) with a margin: AVIF 0.6–0.8, GIF
// 0.3–0.8 (libimagequant), WebP 6–7 on libvips 8.17; JPEG XL 6–18 on Debian's 8.14 (the npm
// build has no JPEG XL).
double SlowestMegapixelsPerSecond(ImageFormat format) {
  switch (format) {
    case ImageFormat::kAvif:
      return 0.5;
    case ImageFormat::kGif:
      return 0.25;
    case ImageFormat::kWebp:
      return 4;
    case ImageFormat::kJxl:
      return 3;
    default:
      return 0;
  }
}

// Output megapixels per second of the encoder alone (the render's time less a JPEG render's of
// the same size), 2048 px photos resized to 1200 px on the 2-core machine: the lower of
// bench_encode_effort's runs (docs/transforms.md) and of one request at a time to the server on
// a quiet machine, rounded down. AVIF by speed (libaom switches to its faster tools from speed 6
// on); WebP by effort.
double TypicalMegapixelsPerSecond(ImageFormat format, const PipelineLimits& limits) {
  static constexpr double kAvifBySpeed[] = {0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 3.5, 2.5, 6, 20};
  static constexpr double kWebpByEffort[] = {25, 25, 16, 9, 9, 8, 4};
  switch (format) {
    case ImageFormat::kAvif:
    case ImageFormat::kHeic:
      return kAvifBySpeed[std::clamp(limits.avif_speed, 0, 9)];
    case ImageFormat::kWebp:
      return kWebpByEffort[std::clamp(limits.webp_effort, 0, 6)];
    case ImageFormat::kJxl:
      return 6;
    case ImageFormat::kGif:
      return 1;
    case ImageFormat::kPng:
      return 15;
    default:
      return 50;  // JPEG, TIFF
  }
}

// A decode's worst time is linear in the pixels (reconstruction, colour conversion) plus the
// encoded bytes (entropy decoding: a bitstream of noise decodes 4–6× slower than a photo of the
// same size). Measured on the 2-core machine while it ran builds: photos in bench_encode's
// Decode cases at AVIF 25–38 Mpx/s, JPEG XL 8.5–20 (8.14 only), WebP 32–130; 4096² Gaussian
// noise with `vips copy` at AVIF 2.4–2.5 s (14.6 MB q90, 23.7 MB lossless), JPEG XL 2.0–5.0 s
// (8.9 and 17.3 MB), WebP 1.1–1.8 s (16.1 and 11.8 MB). The rates below keep at least twice
// those times. HEIC, which no encoder here can make to measure, is taken as AVIF.
struct DecodeRates {
  double megapixels_per_second = 0;  // 0: the decoder is stopped by the deadline
  double megabytes_per_second = 0;
};

DecodeRates SlowestDecodeRates(ImageFormat format) {
  switch (format) {
    case ImageFormat::kAvif:
    case ImageFormat::kHeic:
      return {12, 4};
    case ImageFormat::kJxl:
      return {6, 2};
    case ImageFormat::kWebp:
      return {25, 4};
    default:
      return {};
  }
}

std::string Seconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", seconds);
  return text;
}

}  // namespace

double WorstDecodeSeconds(ImageFormat format, int64_t pixels, int64_t encoded_bytes) {
  const DecodeRates rates = SlowestDecodeRates(format);
  if (rates.megapixels_per_second == 0) return 0;
  return static_cast<double>(pixels) / 1e6 / rates.megapixels_per_second +
         static_cast<double>(encoded_bytes) / 1e6 / rates.megabytes_per_second;
}

double WorstEncodeSeconds(ImageFormat format, int64_t pixels) {
  const double rate = SlowestMegapixelsPerSecond(format);
  return rate > 0 ? static_cast<double>(pixels) / 1e6 / rate : 0;
}

double TypicalEncodeSeconds(ImageFormat format, int64_t pixels, const PipelineLimits& limits) {
  return static_cast<double>(pixels) / 1e6 / TypicalMegapixelsPerSecond(format, limits);
}

RenderFootprint SourceFootprint(ImageFormat format, const vips::VImage& header,
                                int64_t encoded_bytes, bool in_memory) {
  RenderFootprint f;
  f.src_format = format;
  f.src_w = header.width();
  f.src_h = header.height();
  f.bands = header.bands();
  f.sample_bytes = static_cast<int>(vips_format_sizeof(header.format()));
  f.progressive = HeaderFlag(header, "jpeg-multiscan") || HeaderFlag(header, "interlaced");
  f.source_bytes = in_memory ? encoded_bytes : 0;
  f.encoded_bytes = encoded_bytes;
  return f;
}

common::Result<common::MemoryBudget::Reservation> AdmitRender(
    const RenderFootprint& footprint, const PipelineLimits& limits,
    std::chrono::steady_clock::time_point deadline) {
  const int64_t bytes = EstimateRenderMemory(footprint);
  if (bytes > limits.max_render_memory) {
    return common::Fail(common::ErrorCode::kTooLarge,
                        "this image would need about " + Mebibytes(bytes) +
                            " of memory to process, over the limit of " +
                            Mebibytes(limits.max_render_memory));
  }
  // The decoders the deadline cannot stop: what can never fit in the timeout is refused as too
  // large; what no longer fits in the time left (after waiting for memory) as out of time.
  const double decode =
      WorstDecodeSeconds(footprint.src_format,
                         footprint.src_w * footprint.src_h * std::max(1, footprint.frames),
                         footprint.encoded_bytes);
  const double timeout = std::chrono::duration<double>(limits.timeout).count();
  if (decode > timeout + 1) {
    return common::Fail(common::ErrorCode::kTooLarge,
                        "this image could take up to " + Seconds(decode) +
                            " to decode, more than the processing timeout of " + Seconds(timeout));
  }
  common::MemoryBudget::Reservation reservation;
  if (limits.memory_budget) {
    auto reserved = limits.memory_budget->Reserve(bytes, deadline);
    if (!reserved) return std::unexpected(reserved.error());
    reservation = std::move(*reserved);
  }
  const double left =
      std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
  if (decode > left + 1) {
    return common::Fail(common::ErrorCode::kDeadlineExceeded,
                        "processing timed out: this image could take up to " + Seconds(decode) +
                            " to decode, and " + Seconds(std::max(0.0, left)) + " are left");
  }
  return reservation;
}

bool EncodesWholeImage(ImageFormat format) { return EncoderBytesPerPixel(format) > 0; }

int64_t EstimateRenderMemory(const RenderFootprint& f) {
  const double src_px = static_cast<double>(f.src_w) * static_cast<double>(f.src_h);
  const double scale = std::clamp(f.decode_scale, 0.0, 1.0);
  const double decoded_px = std::max(1.0, src_px * scale * scale) * std::max(1, f.frames);
  const double out_px = static_cast<double>(f.out_w) * static_cast<double>(f.out_h) *
                        std::max(1, f.out_frames);
  double bytes = kPipelineAllowance + static_cast<double>(f.source_bytes);
  bytes += LoaderBytesPerPixel(f) * src_px;
  // Held whole: the decoded frames, at the loader's depth (a trim keeps a copy of its result).
  if (f.whole_decode) bytes += 2 * decoded_px * f.bands * f.sample_bytes;
  if (!f.tiled_output) bytes += out_px * static_cast<double>(EncoderBytesPerPixel(f.out_format));
  if (f.fit_bytes) bytes += out_px * 4;
  // The encoded result, twice (libvips' buffer, then the reply), each at most half the raw size
  // for the photos and drawings that reach this size.
  if (!f.to_file) bytes += out_px * 4;
  return static_cast<int64_t>(std::min(bytes, 9.0e18));
}

}  // namespace imgorigin::transforms
