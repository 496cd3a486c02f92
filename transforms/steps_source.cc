// Steps before the frames: what the source is, what the output will be, and the decode.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "transforms/jpeg_scans.h"
#include "transforms/render_cost.h"
#include "transforms/steps.h"

namespace imgorigin::transforms {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;
using vips::VImage;

// Formats this pipeline knows how to encode (each still subject to CanEncode for this build).
bool IsWritable(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
    case ImageFormat::kPng:
    case ImageFormat::kWebp:
    case ImageFormat::kAvif:
    case ImageFormat::kGif:
    case ImageFormat::kTiff:
    case ImageFormat::kJxl:
      return true;
    default:
      return false;
  }
}

bool IsHeif(ImageFormat format) {
  return format == ImageFormat::kHeic || format == ImageFormat::kAvif;
}

bool Skipped(const TransformSpec& spec, ImageFormat format) {
  return std::find(spec.skip_processing.begin(), spec.skip_processing.end(), format) !=
         spec.skip_processing.end();
}

Result<void> Unavailable(ImageFormat format) {
  return Fail(ErrorCode::kUnsupported,
              std::string(FormatExtension(format)) + " output is not available in this build");
}

// The output format, decided before decoding because it decides whether frames are kept:
// `alpha` is whether the result may have transparency (imgproxy's expectTransparency).
ImageFormat OutputFormat(const TransformSpec& spec, ImageFormat source, bool alpha,
                         bool animated_source) {
  if (spec.format != ImageFormat::kUnknown) {
    if (spec.auto_format && animated_source && !CanAnimate(spec.format)) {
      return CanEncode(ImageFormat::kWebp) ? ImageFormat::kWebp : ImageFormat::kGif;
    }
    return spec.format;
  }
  if (spec.auto_format ? IsUniversalWebFormat(source) : IsWritable(source) && CanEncode(source)) {
    return source;
  }
  if (animated_source) return ImageFormat::kGif;
  return alpha ? ImageFormat::kPng : ImageFormat::kJpeg;
}

// Pixels that can keep their embedded profile: RGB, which every output format can carry with an
// ICC profile. CMYK, grey and Lab sources are always converted.
bool CanKeepProfile(const VImage& img) {
  return img.get_typeof(VIPS_META_ICC_NAME) != 0 && img.bands() >= 3 &&
         (img.interpretation() == VIPS_INTERPRETATION_sRGB ||
          img.interpretation() == VIPS_INTERPRETATION_RGB16 ||
          img.interpretation() == VIPS_INTERPRETATION_RGB);
}

// Loaders read the header when they are opened and decode lazily, so a failure while opening
// means the loader refused the bytes: the stage tells CatchVipsErrors so.
VImage OpenSource(Context& ctx, vips::VOption* options) {
  ctx.stage = VipsStage::kDecoding;
  VImage image = ctx.path != nullptr
                     ? VImage::new_from_file(ctx.path, options)
                     : VImage::new_from_buffer(ctx.source.data(), ctx.source.size(), "", options);
  ctx.stage = VipsStage::kProcessing;
  return image;
}

VImage OpenPixels(Context& ctx, vips::VOption* options) {
  options->set("fail_on", VIPS_FAIL_ON_TRUNCATED)
      ->set("access", ctx.needs_random ? VIPS_ACCESS_RANDOM : VIPS_ACCESS_SEQUENTIAL);
  if (ctx.use_thumbnail) options->set("thumbnail", true);
  return OpenSource(ctx, options);
}

// trim: the bounding box of what differs from the border colour by more than the threshold.
// Runs on the decoded source (before any resizing), like imgproxy's.
VImage TrimBorder(const VImage& img, const Trim& trim) {
  const VImage probe = img.has_alpha()
                           ? img.flatten(VImage::option()->set(
                                 "background", Colour(trim.colour.value_or(Rgb{}), false, 0)))
                           : img;
  std::vector<double> background;
  if (trim.colour) {
    background = Colour(*trim.colour, false, 0);
  } else {
    background = probe.getpoint(0, 0);
    background.resize(3);
  }
  int top = 0, width = 0, height = 0;
  const int left = probe.find_trim(
      &top, &width, &height,
      VImage::option()->set("threshold", trim.threshold)->set("background", background));
  // Nothing but border: keep the image rather than fail on an empty one.
  if (width <= 0 || height <= 0) return img;
  int x = left, y = top, w = width, h = height;
  if (trim.equal_horizontal) {
    const int cut = std::min(left, img.width() - left - width);
    x = cut;
    w = img.width() - 2 * cut;
  }
  if (trim.equal_vertical) {
    const int cut = std::min(top, img.height() - top - height);
    y = cut;
    h = img.height() - 2 * cut;
  }
  return img.extract_area(x, y, w, h);
}

// Whether `level` is about 1/2^`shift` of the full size, as libvips' thumbnail accepts a pyramid
// level (within 5 pixels, at least 2 pixels a side).
bool HalvesTo(const PyramidLevel& full, const PyramidLevel& level, int shift) {
  const auto near = [](int got, int want) { return got >= 2 && std::abs(got - want) <= 5; };
  return near(level.width, full.width >> shift) && near(level.height, full.height >> shift);
}

// A TIFF's resolution levels, found as libvips' thumbnail finds them (8.14 and 8.17 alike):
// SubIFDs first, then pages, each level about half the one before; anything else is not a
// pyramid (a multi-page document, say) and gives no levels. Only headers are read.
std::vector<PyramidLevel> TiffLevels(Context& ctx, const VImage& header) {
  // 2^30 px a side at most, so no more than 30 halvings.
  constexpr int kMaxLevels = 30;
  const PyramidLevel full{header.width(), header.height(), 0, -1};
  const int subifds = vips_image_get_n_subifds(header.get_image());
  const bool by_subifd = subifds >= 1 && subifds < kMaxLevels;
  const int count = by_subifd ? subifds + 1 : ctx.pages;
  if (count < 2 || count > kMaxLevels) return {};
  std::vector<PyramidLevel> levels{full};
  for (int i = 1; i < count; ++i) {
    auto* options = VImage::option()->set("access", VIPS_ACCESS_SEQUENTIAL);
    if (by_subifd) {
      options->set("subifd", i - 1);
    } else {
      options->set("page", i);
    }
    const VImage level = OpenSource(ctx, options);
    const PyramidLevel found{level.width(), level.height(), by_subifd ? 0 : i,
                             by_subifd ? i - 1 : -1};
    if (!HalvesTo(full, found, i)) return {};
    levels.push_back(found);
  }
  return levels;
}

// The smallest pyramid level that still has `scale` of the full size on each side (a pixel short
// is close enough: the resize makes it up), as libvips' thumbnail picks it.
const PyramidLevel& LevelFor(const std::vector<PyramidLevel>& levels, double scale) {
  for (auto it = levels.rbegin(); it != levels.rend(); ++it) {
    if (it->width + 1 >= levels.front().width * scale &&
        it->height + 1 >= levels.front().height * scale) {
      return *it;
    }
  }
  return levels.front();
}

// A level's size relative to the full size: the larger of its two sides' ratios.
double LevelScale(const std::vector<PyramidLevel>& levels, const PyramidLevel& level) {
  return std::max(static_cast<double>(level.width) / levels.front().width,
                  static_cast<double>(level.height) / levels.front().height);
}

}  // namespace

// Shrink-on-load: the size the loader decodes at, relative to the source (per side). JPEG shrinks
// by 2, 4 or 8, WebP and SVG scale freely (SVG up as well), a TIFF pyramid offers its levels. Animations are decoded at full size:
// the loaders shrink frames inconsistently.
double LoadScale(const Context& ctx, const Plan& plan) {
  if (ctx.animated) return 1;
  const double prescale = std::max(plan.scale.x, plan.scale.y);
  switch (ctx.src_format) {
    case ImageFormat::kJpeg: {
      if (prescale >= 1) return 1;
      const double shrink = 1 / prescale;
      return shrink >= 8 ? 0.125 : shrink >= 4 ? 0.25 : shrink >= 2 ? 0.5 : 1;
    }
    case ImageFormat::kWebp:
      return std::min(prescale, 1.0);
    case ImageFormat::kSvg:
      return prescale;
    case ImageFormat::kTiff: {
      if (ctx.levels.empty() || prescale >= 1) return 1;
      return LevelScale(ctx.levels, LevelFor(ctx.levels, prescale));
    }
    default:
      return 1;
  }
}

std::vector<double> Colour(const Rgb& c, bool with_alpha, double alpha) {
  std::vector<double> v{static_cast<double>(c.r), static_cast<double>(c.g),
                        static_cast<double>(c.b)};
  if (with_alpha) v.push_back(alpha);
  return v;
}

// 8-bit RGB(A) for processing. With keep_profile and an RGB profile, the pixels stay in that
// profile's space and the profile stays attached; otherwise they are converted to sRGB (through
// the embedded profile when there is one, CMYK included) and the profile is dropped, as the
// result is plain sRGB.
VImage ToWorkingSpace(VImage img, bool keep_profile) {
  const bool keep = keep_profile && CanKeepProfile(img);
  if (!keep && img.get_typeof(VIPS_META_ICC_NAME) != 0) {
    // Through the C call, which reports failure instead of throwing: a broken embedded profile is
    // not an error, libvips' built-in conversion below stands in for it.
    VipsImage* converted = nullptr;
    if (vips_icc_transform(img.get_image(), &converted, "srgb", "embedded", TRUE, "intent",
                           VIPS_INTENT_PERCEPTUAL, nullptr) == 0) {
      img = VImage(converted);
    } else {
      vips_error_clear();
    }
  }
  if (img.interpretation() != VIPS_INTERPRETATION_sRGB) {
    img = img.colourspace(VIPS_INTERPRETATION_sRGB);
  }
  if (img.format() != VIPS_FORMAT_UCHAR) img = img.cast(VIPS_FORMAT_UCHAR);
  if (!keep && img.get_typeof(VIPS_META_ICC_NAME) != 0) {
    img = img.copy();
    img.remove(VIPS_META_ICC_NAME);
  }
  return img;
}

Result<void> CheckRequest(Context& ctx) {
  const TransformSpec& spec = ctx.spec;
  // raw is "unchecked" in imgproxy: the bytes go out as they came, even if they are not an image.
  if (spec.raw) {
    ctx.output = EncodedImage{std::string(ctx.source), SniffFormat(ctx.source), 0, 0};
    return {};
  }
  // The loader that will decode the source decides what it is, so everything the SVG loader gets
  // is checked first.
  ctx.src_format = LoaderFormat(ctx.source, ctx.path);
  if (ctx.src_format == ImageFormat::kUnknown) {
    return Fail(ErrorCode::kUnsupported, "source is not a supported image format");
  }
  if (ctx.src_format == ImageFormat::kSvg) {
    // librsvg resolves relative references against a file's directory: ProcessFile() hands SVGs
    // over in memory, and no other path may reach the loader with a file.
    if (ctx.path != nullptr) {
      return Fail(ErrorCode::kInternal, "SVG sources must be decoded from memory");
    }
    if (auto checked = CheckSvgIsSelfContained(ctx.source); !checked) return checked;
  }
  // A file's scans were counted by ProcessFile(), which reads all of it.
  if (ctx.src_format == ImageFormat::kJpeg && ctx.path == nullptr) {
    JpegScanCounter scans;
    scans.Feed(ctx.source);
    if (auto checked = scans.Check(ctx.limits.max_jpeg_scans); !checked) return checked;
  }
  ctx.rotate = ((spec.rotate % 360) + 360) % 360;
  if (ctx.rotate % 90 != 0) {
    return Fail(ErrorCode::kInvalidArgument, "rotate must be 0, 90, 180 or 270");
  }
  if (!(spec.dpr > 0) || !(spec.zoom_x > 0) || !(spec.zoom_y > 0)) {
    return Fail(ErrorCode::kInvalidArgument, "dpr and zoom must be positive");
  }
  if (spec.format != ImageFormat::kUnknown &&
      (!IsWritable(spec.format) || !CanEncode(spec.format))) {
    return Unavailable(spec.format);
  }
  if (spec.watermark && spec.watermark->opacity > 0 && ctx.limits.watermark_data.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "watermark: no watermark configured on this server");
  }
  // enforce_thumbnail: HEIF containers may carry a small pre-rendered thumbnail; libheif falls
  // back to the main image when there is none.
  ctx.use_thumbnail = spec.enforce_thumbnail && IsHeif(ctx.src_format);
  return {};
}

Result<void> ReadHeader(Context& ctx) {
  // The header only: loaders are lazy, so no pixels are decoded before the limit check.
  auto* options = VImage::option()->set("access", VIPS_ACCESS_SEQUENTIAL);
  if (ctx.use_thumbnail) options->set("thumbnail", true);
  const VImage header = OpenSource(ctx, options);
  ctx.src_w = header.width();
  ctx.src_h = header.height();
  ctx.pages = header.get_typeof(VIPS_META_N_PAGES) != 0
                  ? std::max(1, header.get_int(VIPS_META_N_PAGES))
                  : 1;
  if (ctx.src_format == ImageFormat::kTiff) ctx.levels = TiffLevels(ctx, header);
  // A pyramid's pages are its levels, of which one is decoded: its pixels are the full level's.
  const int counted_pages = ctx.levels.empty() ? ctx.pages : 1;
  const int64_t pixels = int64_t{ctx.src_w} * ctx.src_h * counted_pages;
  if (pixels > ctx.limits.max_src_pixels) {
    return Fail(ErrorCode::kTooLarge,
                "source image is " + std::to_string(ctx.src_w) + "×" + std::to_string(ctx.src_h) +
                    (counted_pages > 1 ? " × " + std::to_string(ctx.pages) + " frames" : "") +
                    ", over the limit of " + std::to_string(ctx.limits.max_src_pixels) + " pixels");
  }
  ctx.orientation =
      header.get_typeof(VIPS_META_ORIENTATION) != 0 ? header.get_int(VIPS_META_ORIENTATION) : 1;
  ctx.src_alpha = header.has_alpha();
  int64_t encoded_bytes = static_cast<int64_t>(ctx.source.size());
  if (ctx.path != nullptr) {
    std::error_code error;  // the file was just opened: a failure here only loses the estimate
    encoded_bytes = static_cast<int64_t>(std::filesystem::file_size(ctx.path, error));
    if (error) encoded_bytes = 0;
  }
  ctx.footprint =
      SourceFootprint(ctx.src_format, header, encoded_bytes, /*in_memory=*/ctx.path == nullptr);
  return {};
}

Result<void> ChooseOutput(Context& ctx) {
  const TransformSpec& spec = ctx.spec;
  if (Skipped(spec, ctx.src_format) &&
      (spec.format == ImageFormat::kUnknown || spec.format == ctx.src_format)) {
    ctx.output = EncodedImage{std::string(ctx.source), ctx.src_format, ctx.src_w, ctx.src_h};
    return {};
  }
  // Animation: GIF and WebP frames stacked into one tall image ("page-height"). Over the frame
  // limit, or into a format that cannot animate, only the first frame is kept.
  const bool animated_source =
      ctx.pages > 1 && ctx.pages <= ctx.limits.max_animation_frames &&
      (ctx.src_format == ImageFormat::kGif || ctx.src_format == ImageFormat::kWebp);
  ctx.may_be_transparent =
      !spec.background &&
      (ctx.src_alpha || spec.extend || spec.extend_aspect_ratio || spec.padding != Padding{});
  ctx.out_format = OutputFormat(spec, ctx.src_format, ctx.may_be_transparent, animated_source);
  if (ctx.file != nullptr) ctx.out_format = FileOutputFormat(ctx);
  if (!IsWritable(ctx.out_format) || !CanEncode(ctx.out_format)) {
    return Unavailable(ctx.out_format);
  }
  ctx.animated = animated_source && CanAnimate(ctx.out_format);
  ctx.frame_count = ctx.animated ? ctx.pages : 1;

  const Gravity& crop_gravity =
      spec.crop && spec.crop->gravity ? *spec.crop->gravity : spec.gravity;
  // Sequential access streams the decode; rotation, vertical flips, the attention crop, trim and
  // frame splitting read out of order and need the decoded image in memory instead.
  ctx.needs_random = ctx.rotate != 0 || ctx.orientation > 1 || spec.flip_vertical ||
                     spec.gravity.type == GravityType::kSmart ||
                     crop_gravity.type == GravityType::kSmart || spec.trim || ctx.animated;
  return {};
}

// Before anything is decoded: the plan of the untrimmed source bounds the output (a trim only makes
// the source smaller), and trim itself holds the decoded source.
RenderFootprint PlanFootprint(const Context& ctx) {
  const TransformSpec& spec = ctx.spec;
  const Plan plan =
      MakePlan(ctx.src_w, ctx.src_h, ctx.orientation, ctx.rotate, spec, ctx.src_format == ImageFormat::kSvg);
  RenderFootprint footprint = ctx.footprint;
  footprint.decode_scale = spec.trim ? 1 : LoadScale(ctx, plan);
  footprint.frames = ctx.frame_count;
  footprint.whole_decode = ctx.needs_random;
  footprint.out_format = ctx.out_format;
  // Larger results are refused by PlanGeometry before any pixel is made.
  footprint.out_w = std::min(plan.final_w, ctx.limits.max_result_dimension);
  footprint.out_h = std::min(plan.final_h, ctx.limits.max_result_dimension);
  footprint.out_frames = ctx.frame_count;
  footprint.fit_bytes = spec.max_bytes > 0;
  footprint.to_file = ctx.file != nullptr;
  footprint.tiled_output = ctx.file != nullptr && ctx.file->pyramid != Pyramid::kNone;
  return footprint;
}

Result<void> ReserveMemory(Context& ctx) {
  // A render derived from a shared decode runs under the reservation RenderMany made for that
  // decode and the largest of its outputs.
  if (ctx.shared != nullptr) return {};
  ctx.footprint = PlanFootprint(ctx);
  auto admitted = AdmitRender(ctx.footprint, ctx.limits, ctx.deadline.at());
  if (!admitted) return std::unexpected(admitted.error());
  ctx.memory = std::move(*admitted);
  return {};
}

// trim needs the decoded pixels to find the border, so it decodes the whole source first; the
// trimmed image then stands in for the source (no shrink-on-load).
Result<void> TrimSource(Context& ctx) {
  if (!ctx.spec.trim || ctx.animated) return {};
  const VImage full = OpenPixels(ctx, VImage::option());
  EvalWatch watch(full, &ctx.deadline);
  ctx.trimmed =
      TrimBorder(ToWorkingSpace(full, !ctx.spec.strip_color_profile), *ctx.spec.trim).copy_memory();
  return {};
}

Result<void> PlanGeometry(Context& ctx) {
  const int w = ctx.trimmed ? ctx.trimmed->width() : ctx.src_w;
  const int h = ctx.trimmed ? ctx.trimmed->height() : ctx.src_h;
  ctx.plan =
      MakePlan(w, h, ctx.orientation, ctx.rotate, ctx.spec, ctx.src_format == ImageFormat::kSvg);
  const std::string size = std::to_string(ctx.plan.final_w) + "×" + std::to_string(ctx.plan.final_h);
  const int max = ctx.limits.max_result_dimension;
  if (ctx.plan.final_w > max || ctx.plan.final_h > max) {
    return Fail(ErrorCode::kInvalidArgument, "result would be " + size + ", over the limit of " +
                                                 std::to_string(max) + " pixels per side");
  }
  // Encoders that take a whole frame in one call cannot be stopped by the deadline: their work
  // per frame is bounded here instead.
  const auto cap = ctx.limits.max_result_pixels.find(ctx.out_format);
  if (cap != ctx.limits.max_result_pixels.end() &&
      int64_t{ctx.plan.final_w} * ctx.plan.final_h > cap->second) {
    // A format the origin chose from Accept gives way to one written line by line; a format the
    // URL asked for is the client's to change.
    if (!ctx.spec.auto_format || ctx.animated) {
      return Fail(ErrorCode::kInvalidArgument,
                  "result would be " + size + ", over the limit of " +
                      std::to_string(cap->second) + " pixels for " +
                      std::string(FormatExtension(ctx.out_format)) + " output");
    }
    ctx.out_format = ctx.may_be_transparent ? ImageFormat::kPng : ImageFormat::kJpeg;
  }
  return ctx.file != nullptr ? CheckFileOutputSize(ctx) : Result<void>{};
}

VImage DecodeSource(Context& ctx, double scale) {
  auto* options = VImage::option();
  if (ctx.animated) {
    options->set("n", ctx.frame_count);
  } else if (ctx.src_format == ImageFormat::kJpeg && scale < 1) {
    options->set("shrink", static_cast<int>(1 / scale));
  } else if ((ctx.src_format == ImageFormat::kWebp && scale < 1) ||
             ctx.src_format == ImageFormat::kSvg) {
    options->set("scale", scale);
  } else if (ctx.src_format == ImageFormat::kTiff && !ctx.levels.empty() && scale < 1) {
    // `scale` is a level's own (LoadScale): the smallest level that large is that one.
    const auto level = std::find_if(ctx.levels.rbegin(), ctx.levels.rend(), [&](const auto& l) {
      return LevelScale(ctx.levels, l) >= scale * (1 - 1e-9);
    });
    if (level != ctx.levels.rend() && level->subifd >= 0) options->set("subifd", level->subifd);
    if (level != ctx.levels.rend() && level->page > 0) options->set("page", level->page);
  }
  const VImage loaded = OpenPixels(ctx, options);
  ctx.load_watch.emplace(loaded, &ctx.deadline);
  return ToWorkingSpace(loaded, !ctx.spec.strip_color_profile);
}

Result<void> LoadSource(Context& ctx) {
  if (ctx.shared != nullptr) {
    ctx.working = *ctx.shared;
  } else if (ctx.trimmed) {
    ctx.working = *ctx.trimmed;
  } else {
    // Shrink-on-load: decode at the smallest size that is still at least the resized size.
    ctx.working = DecodeSource(ctx, LoadScale(ctx, ctx.plan));
  }

  const VImage& working = ctx.working;
  const int frame_h = ctx.animated ? working.height() / ctx.frame_count : working.height();
  ctx.frames.reserve(ctx.frame_count);
  for (int i = 0; i < ctx.frame_count; ++i) {
    ctx.frames.push_back(
        ctx.animated ? working.extract_area(0, i * frame_h, working.width(), frame_h) : working);
  }
  return {};
}

}  // namespace imgorigin::transforms
