// Steps that make the output: the frames joined, the metadata it carries, the encoded bytes.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "transforms/steps.h"

namespace imgorigin::transforms {
namespace {

using Clock = std::chrono::steady_clock;
using common::ErrorCode;
using common::Fail;
using common::Result;
using vips::VImage;

bool HasPrefix(std::string_view name, std::string_view prefix) {
  return name.substr(0, prefix.size()) == prefix;
}

// Removes metadata the client does not need. libvips' own "strip" would also drop the ICC
// profile and cannot keep a copyright, so fields are removed one by one: the savers rebuild EXIF
// from the "exif-ifd…" fields that remain, so keeping exif-ifd0-Copyright keeps the copyright.
// The savers always write that rebuilt EXIF (resolution tags at least), so when nothing is left
// to keep, the caller lets the saver strip instead.
VImage WithoutMetadata(VImage img, bool keep_copyright) {
  img = img.copy();
  const StrvHandle fields(vips_image_get_fields(img.get_image()));
  for (char** field = fields.get(); *field != nullptr; ++field) {
    const std::string_view name = *field;
    if (keep_copyright && name == "exif-ifd0-Copyright") continue;
    const bool metadata = HasPrefix(name, "exif-") || HasPrefix(name, "xmp-") ||
                          HasPrefix(name, "iptc-") || HasPrefix(name, "ipct-") ||
                          HasPrefix(name, "png-comment-") || HasPrefix(name, "gif-comment") ||
                          HasPrefix(name, "jpeg-") || name == VIPS_META_ORIENTATION ||
                          name == "heif-primary" || name == "heif-compression";
    if (metadata) img.remove(*field);
  }
  return img;
}

// Formats whose size a quality setting controls (so max_bytes can work on them).
bool HasQuality(ImageFormat format) {
  return format == ImageFormat::kJpeg || format == ImageFormat::kWebp ||
         format == ImageFormat::kAvif || format == ImageFormat::kJxl;
}

int QualityFor(const TransformSpec& spec, ImageFormat format, const PipelineLimits& config) {
  if (const int q = spec.QualityFor(format); q > 0) return q;
  const auto it = config.format_quality.find(format);
  return it != config.format_quality.end() ? it->second : config.quality;
}

// libvips' saver for a format, without the "_buffer" of its in-memory variant; null when the
// pipeline does not write the format.
const char* SaverName(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
      return "jpegsave";
    case ImageFormat::kPng:
      return "pngsave";
    case ImageFormat::kWebp:
      return "webpsave";
    case ImageFormat::kAvif:
      return "heifsave";
    case ImageFormat::kGif:
      return "gifsave";
    case ImageFormat::kTiff:
      return "tiffsave";
    case ImageFormat::kJxl:
      return "jxlsave";
    default:
      return nullptr;
  }
}

// PNG's deflate settings depend on what the pixels are. Photos (a JPEG source: continuous tone
// and sensor grain) gain most from a row filter, and with one zlib's fast levels are enough:
// "average" at level 3 writes 30–45 % smaller files than no filter at level 6, in about 30 % less
// time, on both libvips builds (docs/transforms.md, PNG). Graphics are the other way round:
// filtering the rows of text, charts and flat UI makes them 20–80 % larger, so every other
// source keeps level 6 unfiltered (sharp's default).
vips::VOption* PngOptions(vips::VOption* options, ImageFormat source) {
  const bool photo = source == ImageFormat::kJpeg;
  return options->set("compression", photo ? 3 : 6)
      ->set("filter", photo ? VIPS_FOREIGN_PNG_FILTER_AVG : VIPS_FOREIGN_PNG_FILTER_NONE);
}

// Encoder settings, compared with sharp 0.35's defaults on the same 600 px resizes of two photos
// (docs/transforms.md has the numbers): JPEG q80 with optimised Huffman tables and libvips' auto
// chroma mode (4:2:0 below q90), optionally progressive — the same bytes as sharp ±0.1%; PNG as
// PngOptions says (sharp writes level 6 unfiltered whatever the pixels); WebP q79 at
// output.webp_effort (4: 0.5–4% smaller than sharp's q80, −0.1 to −0.3 dB); AVIF q50 at
// output.avif_speed (imgproxy's 8 = libvips effort 1; sharp's effort 4 took 1.7–2.7 s at 1200 px
// for 24% fewer bytes) with 4:2:0 chroma (sharp keeps 4:4:4; with Debian's older libaom neither
// setting beats sharp's bundled libaom on every image); JXL q77 effort 4. Metadata is handled by SetMetadata; `strip` tells the saver to write
// none at all.
vips::VOption* SaverOptions(ImageFormat format, ImageFormat source, int q, bool strip,
                            const PipelineLimits& config) {
  auto* options = VImage::option()->set("strip", strip);
  switch (format) {
    case ImageFormat::kJpeg:
      return options->set("Q", q)
          ->set("optimize_coding", true)
          ->set("interlace", config.jpeg_progressive)
          ->set("subsample_mode", VIPS_FOREIGN_SUBSAMPLE_AUTO);
    case ImageFormat::kPng:
      return PngOptions(options, source)->set("interlace", config.png_interlaced);
    case ImageFormat::kWebp:
      return options->set("Q", q)->set("effort", config.webp_effort);
    case ImageFormat::kAvif:
      // 8-bit because the pipeline is 8-bit.
      return options->set("compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1)
          ->set("Q", q)
          ->set("effort", 9 - config.avif_speed)
          ->set("bitdepth", 8)
          ->set("subsample_mode", VIPS_FOREIGN_SUBSAMPLE_AUTO);
    case ImageFormat::kTiff:
      return options->set("compression", VIPS_FOREIGN_TIFF_COMPRESSION_DEFLATE);
    case ImageFormat::kJxl:
      return options->set("Q", q)->set("effort", 4);
    default:
      return options;  // GIF
  }
}

// Encodes `img` into the file at `path`, or into the returned blob when `path` is null. Returns
// the encoded size in bytes, -1 when the pipeline has no encoder for the format.
int64_t Save(const VImage& img, ImageFormat format, ImageFormat source, int q, bool strip,
             const PipelineLimits& config, const char* path, BlobHandle& blob) {
  const char* saver = SaverName(format);
  if (saver == nullptr) return -1;
  auto* options = SaverOptions(format, source, q, strip, config)->set("in", img);
  if (path != nullptr) {
    VImage::call(saver, options->set("filename", path));
    std::error_code error;
    const auto size = std::filesystem::file_size(path, error);
    return error ? 0 : static_cast<int64_t>(size);
  }
  VipsBlob* out = nullptr;
  VImage::call((std::string(saver) + "_buffer").c_str(), options->set("buffer", &out));
  blob = BlobHandle(out);
  return static_cast<int64_t>(VIPS_AREA(out)->length);
}

}  // namespace

Result<void> JoinFrames(Context& ctx) {
  if (!ctx.animated) {
    ctx.image = ctx.frames.front();
    return {};
  }
  // Rendered one by one so that the deadline is checked between frames, not only after them all.
  for (VImage& frame : ctx.frames) {
    frame = frame.copy_memory();
    if (ctx.deadline.Passed()) {
      return Fail(ErrorCode::kDeadlineExceeded, ctx.deadline.Message());
    }
  }
  ctx.image = VImage::arrayjoin(ctx.frames, VImage::option()->set("across", 1));
  return {};
}

Result<void> SetMetadata(Context& ctx) {
  const TransformSpec& spec = ctx.spec;
  VImage img =
      spec.strip_metadata ? WithoutMetadata(ctx.image, spec.keep_copyright) : ctx.image.copy();
  ctx.saver_strips = spec.strip_metadata && img.get_typeof(VIPS_META_ICC_NAME) == 0 &&
                     img.get_typeof("exif-ifd0-Copyright") == 0;
  img.remove(VIPS_META_ORIENTATION);  // the pixels are upright now (or ar:0 asked for raw ones)
  if (ctx.animated) {
    // Frame timing survives the round trip; loaders without it (rare) get imgproxy's 40 ms.
    const VImage& source = ctx.working;
    std::vector<int> delay;
    if (source.get_typeof("delay") != 0) delay = source.get_array_int("delay");
    delay.resize(ctx.frame_count, 40);
    img.set(VIPS_META_PAGE_HEIGHT, ctx.frames.front().height());
    img.set(VIPS_META_N_PAGES, ctx.frame_count);
    img.set("delay", delay);
    img.set("loop", source.get_typeof("loop") != 0 ? source.get_int("loop") : 0);
  } else if (img.get_typeof(VIPS_META_PAGE_HEIGHT) != 0) {
    img.remove(VIPS_META_PAGE_HEIGHT);
    img.remove(VIPS_META_N_PAGES);
  }
  ctx.image = img;
  return {};
}

Result<void> Encode(Context& ctx) {
  const TransformSpec& spec = ctx.spec;
  VImage img = ctx.image;
  EvalWatch watch(img, &ctx.deadline);
  int quality = QualityFor(spec, ctx.out_format, ctx.limits);
  const bool fit_bytes = spec.max_bytes > 0 && HasQuality(ctx.out_format);
  // Encoded several times: render the pixels once.
  if (fit_bytes) img = img.copy_memory();
  // The encoders the deadline cannot stop do not start unless their worst time fits in what is
  // left of it, plus the second of grace the timeout has.
  const double worst =
      WorstEncodeSeconds(ctx.out_format, int64_t{img.width()} * img.height());
  const bool pyramid = ctx.file != nullptr && ctx.file->pyramid != Pyramid::kNone;
  const char* path = ctx.file != nullptr ? ctx.file->path.c_str() : nullptr;
  BlobHandle blob;
  const auto started = Clock::now();
  for (;;) {
    const auto left = std::chrono::duration<double>(ctx.deadline.at() - Clock::now()).count();
    if (ctx.deadline.Passed() || worst > left + 1) {
      return Fail(ErrorCode::kDeadlineExceeded, ctx.deadline.Message());
    }
    if (pyramid) {
      SavePyramid(ctx, img, quality);
      break;
    }
    const int64_t size =
        Save(img, ctx.out_format, ctx.src_format, quality, ctx.saver_strips, ctx.limits, path, blob);
    if (size < 0) return Fail(ErrorCode::kInternal, "no encoder for the output format");
    // imgproxy's search: big steps while far over, small ones when close; stops at q10.
    if (!fit_bytes || size <= spec.max_bytes || quality <= 10) break;
    const double over = static_cast<double>(size) / static_cast<double>(spec.max_bytes);
    const double factor = over > 3 ? 0.25 : over > 1.5 ? 0.5 : 0.75;
    quality = std::max(10, static_cast<int>(quality * factor));
  }

  EncodedImage out;
  if (blob) {
    const auto* data = static_cast<const char*>(VIPS_AREA(blob.get())->data);
    out.bytes.assign(data, VIPS_AREA(blob.get())->length);
  }
  out.format = ctx.out_format;
  out.encode_seconds = std::chrono::duration<double>(Clock::now() - started).count();
  out.width = img.width();
  out.height = ctx.animated ? ctx.frames.front().height() : img.height();
  ctx.output = std::move(out);
  return {};
}

}  // namespace imgorigin::transforms
