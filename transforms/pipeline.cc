#include "transforms/pipeline.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <utility>
#include <vips/vips8>
#include <vips/vector.h>  // after vips8: it relies on its types

#include "common/handle.h"
#include "transforms/jpeg_scans.h"
#include "transforms/steps.h"
#include "transforms/vips_boundary.h"

namespace imgorigin::transforms {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

// imgproxy's order, except that frames are oriented before they are cropped and resized: sizes,
// crops and gravities refer to the output's orientation. An option is read by the step that
// applies it; what several steps depend on (sizes, access pattern, output format) is decided
// before decoding, by ChooseOutput and PlanGeometry.
constexpr Step kSteps[] = {
    CheckRequest,  // raw, source format, spec sanity
    ReadHeader,    // pixel limit, before anything is decoded
    ChooseOutput,  // skip_processing, output format, animation
    ReserveMemory,  // the render's estimated memory, from the per-render and total budgets
    TrimSource,    // decodes in full, so before the plan
    PlanGeometry,  // every size, and the result limit
    LoadSource,    // shrink-on-load, working colour space, frames
    RotateAndFlip,
    CropSource,
    Resize,
    CropToResult,  // fill's crop to the requested box
    ApplyEffects,  // blur, sharpen, pixelate
    Extend,
    ExtendAspectRatio,
    Pad,
    FlattenBackground,  // background, or no alpha in the output format
    ApplyWatermark,
    JoinFrames,
    SetMetadata,  // stripped, upright, animation timing
    Encode,       // max_bytes
};

// With `path` set, `source` holds only the file's first bytes (enough to tell the format) and
// libvips reads the file itself. `facts`, when given, receives what the header said.
Result<EncodedImage> Run(std::string_view source, const char* path, const TransformSpec& spec,
                         const PipelineLimits& limits, const FileOutput* file = nullptr,
                         SourceFacts* facts = nullptr) {
  Context ctx(source, path, spec, limits);
  ctx.file = file;
  if (auto ran = RunSteps(ctx); !ran) return std::unexpected(ran.error());
  if (facts != nullptr) {
    const bool swap = ctx.orientation >= 5 && ctx.orientation <= 8;
    *facts = SourceFacts{ctx.src_format, swap ? ctx.src_h : ctx.src_w, swap ? ctx.src_w : ctx.src_h,
                         ctx.pages};
  }
  return std::move(*ctx.output);
}

}  // namespace

Result<EncodedImage> RunFile(const std::string& path, const TransformSpec& spec,
                             const PipelineLimits& limits, const FileOutput* file,
                             SourceFacts* facts) {
  std::ifstream in(path, std::ios::binary);
  std::string head(64 * 1024, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  if (in.bad()) return Fail(ErrorCode::kInternal, "source file could not be read");
  head.resize(static_cast<size_t>(in.gcount()));
  // raw and skip_processing answer with the source bytes themselves, and SVGs are never decoded
  // from a file (librsvg would resolve references against its directory): those are read into
  // memory. The loader new_from_file() would pick decides what the file is.
  const ImageFormat format = LoaderFormat(head, path.c_str());
  const bool svg = format == ImageFormat::kSvg;
  const bool skipped = std::find(spec.skip_processing.begin(), spec.skip_processing.end(),
                                 format) != spec.skip_processing.end();
  if (file != nullptr && !svg &&
      (spec.raw || (skipped && (spec.format == ImageFormat::kUnknown || spec.format == format)))) {
    return CopySourceFile(path, format, *file);
  }
  if (spec.raw || svg || skipped) {
    in.clear();
    in.seekg(0);
    std::string whole;
    char buffer[65536];
    while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
      whole.append(buffer, static_cast<size_t>(in.gcount()));
      if (svg && whole.size() > kMaxSvgBytes) {
        return Fail(ErrorCode::kTooLarge,
                    "SVG source is over the limit of " + std::to_string(kMaxSvgBytes) + " bytes");
      }
    }
    if (in.bad()) return Fail(ErrorCode::kInternal, "source file could not be read");
    return Run(whole, nullptr, spec, limits, file, facts);
  }
  if (format == ImageFormat::kJpeg) {
    // CheckRequest only sees the head: the scans are counted over the whole file here.
    JpegScanCounter scans;
    in.clear();
    in.seekg(0);
    char buffer[65536];
    while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
      scans.Feed(std::string_view(buffer, static_cast<size_t>(in.gcount())));
    }
    if (in.bad()) return Fail(ErrorCode::kInternal, "source file could not be read");
    if (auto checked = scans.Check(limits.max_jpeg_scans); !checked) {
      return std::unexpected(checked.error());
    }
  }
  return Run(head, path.c_str(), spec, limits, file, facts);
}

Result<void> RunSteps(Context& ctx) {
  return CatchVipsErrors(
      [&ctx]() -> Result<void> {
        for (const Step step : kSteps) {
          if (auto done = step(ctx); !done || ctx.output) return done;
          // Between steps too: an EvalWatch only fires while libvips computes pixels.
          if (ctx.deadline.Passed()) {
            return Fail(ErrorCode::kDeadlineExceeded, ctx.deadline.Message());
          }
        }
        return Fail(ErrorCode::kInternal, "the pipeline ended without an image");
      },
      ctx.stage, &ctx.deadline);
}

common::Result<void> PipelineLimits::LoadWatermark() {
  if (watermark_path.empty()) return {};
  const common::Handle<std::FILE, std::fclose> file(std::fopen(watermark_path.c_str(), "rb"));
  if (file == nullptr) {
    return Fail(ErrorCode::kInternal, "watermark_path: cannot open " + watermark_path);
  }
  std::string data;
  char buffer[65536];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0;) {
    data.append(buffer, n);
  }
  watermark_data = std::move(data);
  return Validate();
}

common::Result<void> PipelineLimits::Validate() const {
  if (max_src_pixels <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "max_src_pixels must be positive");
  }
  if (max_result_dimension <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "max_result_dimension must be positive");
  }
  if (timeout.count() <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "timeout must be positive");
  }
  if (max_jpeg_scans < 1) {
    return Fail(ErrorCode::kInvalidArgument, "max_jpeg_scans must be at least 1");
  }
  if (max_render_memory <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "max_render_memory must be positive");
  }
  for (const auto& [format, pixels] : max_result_pixels) {
    if (pixels <= 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  "max_result_pixels: " + std::string(FormatExtension(format)) +
                      " must be positive");
    }
  }
  if (max_animation_frames < 1) {
    return Fail(ErrorCode::kInvalidArgument, "max_animation_frames must be at least 1");
  }
  if (quality < 1 || quality > 100) {
    return Fail(ErrorCode::kInvalidArgument, "quality must be in [1, 100]");
  }
  for (const auto& [format, q] : format_quality) {
    if (q < 1 || q > 100) {
      return Fail(ErrorCode::kInvalidArgument,
                  "format_quality: " + std::string(FormatExtension(format)) +
                      " quality must be in [1, 100]");
    }
  }
  if (avif_speed < 0 || avif_speed > 9) {
    return Fail(ErrorCode::kInvalidArgument, "avif_speed must be in [0, 9]");
  }
  if (webp_effort < 0 || webp_effort > 6) {
    return Fail(ErrorCode::kInvalidArgument, "webp_effort must be in [0, 6]");
  }
  if (!watermark_data.empty()) {
    const ImageFormat format = LoaderFormat(watermark_data);
    if (format == ImageFormat::kUnknown || format == ImageFormat::kSvg) {
      return Fail(ErrorCode::kInvalidArgument, "watermark: not a supported raster image");
    }
  }
  return {};
}

void InitVips(const char* argv0) {
  static std::once_flag once;
  std::call_once(once, [argv0] {
    if (VIPS_INIT(argv0) != 0) vips_error_exit("unable to start libvips");
    // Each request is different bytes; an operation cache would only hold memory.
    vips_cache_set_max(0);
    // The CPU pool runs one request per core; libvips threads on top would oversubscribe.
    vips_concurrency_set(1);
    // libvips before 8.15 runs some kernels (reduce, convolution) through liborc's run-time code
    // generator, which took a server down under load here (a fault in orc_code_free while a
    // finished pipeline was freed) — a known class of orc crash. The plain C paths measured no
    // slower on this workload. Later libvips use Highway instead, so SIMD stays on there.
#if VIPS_MAJOR_VERSION == 8 && VIPS_MINOR_VERSION < 15
    vips_vector_set_enabled(FALSE);
#endif
    // Keeps loaders that libvips marks as unsafe for hostile input (ImageMagick, PDF, JPEG 2000,
    // FITS …) out of reach of bytes fetched from the internet. Three are web formats image CDNs
    // are expected to serve, as imgproxy does, and stay on: SVG (librsvg, and only after
    // CheckSvgIsSelfContained), and JPEG XL in and out (libjxl is continuously fuzzed by
    // OSS-Fuzz and ships in browsers; the pixel limit still applies before decoding).
    vips_block_untrusted_set(TRUE);
    vips_operation_block_set("VipsForeignLoadSvg", FALSE);
    vips_operation_block_set("VipsForeignLoadJxl", FALSE);
    vips_operation_block_set("VipsForeignSaveJxl", FALSE);
  });
}

common::Result<EncodedImage> Process(std::string_view source, const TransformSpec& spec,
                                     const PipelineLimits& limits) {
  return Run(source, nullptr, spec, limits);
}

common::Result<EncodedImage> ProcessFile(const std::string& path, const TransformSpec& spec,
                                         const PipelineLimits& limits) {
  return RunFile(path, spec, limits, nullptr, nullptr);
}

common::Result<SourceFacts> CheckSourceFile(const std::string& path, const PipelineLimits& limits) {
  // A small render decodes every pixel (shrunk on load where the format allows) with the
  // render's own checks, so whatever would fail a render later fails here: a truncated body
  // (the loaders fail on truncation), a corrupt one, a bomb, a format this build refuses.
  TransformSpec probe;
  probe.width = kCheckThumbnail;
  probe.height = kCheckThumbnail;
  probe.format = ImageFormat::kPng;
  SourceFacts facts;
  if (auto rendered = RunFile(path, probe, limits, nullptr, &facts); !rendered) {
    return std::unexpected(rendered.error());
  }
  return facts;
}

}  // namespace imgorigin::transforms
