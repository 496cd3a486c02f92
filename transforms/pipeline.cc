#include "transforms/pipeline.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#include <vips/vips8>

namespace imgorigin::transforms {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;
using Clock = std::chrono::steady_clock;
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
      return true;
    default:
      return false;
  }
}

bool SupportsAlpha(ImageFormat format) { return format != ImageFormat::kJpeg; }

int DefaultQuality(ImageFormat format) {
  switch (format) {
    case ImageFormat::kWebp:
      return 79;
    case ImageFormat::kAvif:
      return 63;
    default:
      return 80;
  }
}

// Whether libvips has a loader for these bytes that is not blocked: the loader lookup itself
// ignores blocking, so a blocked format would otherwise look like a broken file.
bool HasUsableLoader(std::string_view source) {
  const char* name = vips_foreign_find_load_buffer(source.data(), source.size());
  if (name == nullptr) {
    vips_error_clear();
    return false;
  }
  // The lookup has just instantiated the class, so peeking cannot return null for a real name.
  const auto* cls =
      static_cast<const VipsOperationClass*>(g_type_class_peek(g_type_from_name(name)));
  return cls != nullptr && (cls->flags & VIPS_OPERATION_BLOCKED) == 0;
}

struct BlobDeleter {
  void operator()(VipsBlob* blob) const { vips_area_unref(VIPS_AREA(blob)); }
};
using BlobPtr = std::unique_ptr<VipsBlob, BlobDeleter>;

// Shared by every image a request watches: the eval handler runs on libvips worker threads.
struct DeadlineState {
  Clock::time_point deadline;
  std::atomic<bool> expired{false};
};

void OnEval(VipsImage* image, VipsProgress* /*progress*/, void* user) {
  auto* state = static_cast<DeadlineState*>(user);
  if (Clock::now() >= state->deadline) {
    state->expired.store(true, std::memory_order_relaxed);
    // Makes the next region request on this image fail, which unwinds the whole evaluation.
    vips_image_set_kill(image, TRUE);
  }
}

// Connects OnEval to an image's "eval" signal for the lifetime of this object. Holding the VImage
// keeps the GObject alive until the handler is disconnected.
class EvalWatch {
 public:
  EvalWatch(VImage image, DeadlineState* state) : image_(std::move(image)) {
    vips_image_set_progress(image_.get_image(), TRUE);
    handler_ = g_signal_connect(image_.get_image(), "eval", G_CALLBACK(OnEval), state);
  }
  EvalWatch(const EvalWatch&) = delete;
  EvalWatch& operator=(const EvalWatch&) = delete;
  ~EvalWatch() { g_signal_handler_disconnect(image_.get_image(), handler_); }

 private:
  VImage image_;
  gulong handler_ = 0;
};

// --- Geometry (imgproxy's prepare/calcScale/calcPosition, in the output's orientation) ---

int Round(double v) { return static_cast<int>(std::lround(v)); }

int CropSize(int full, double requested) {
  if (requested <= 0) return full;
  const int size =
      requested >= 1 ? static_cast<int>(requested) : std::max(1, Round(full * requested));
  return std::min(size, full);
}

int ExifAngle(int orientation) {
  switch (orientation) {
    case 3:
    case 4:
      return 180;
    case 5:
    case 6:
      return 90;
    case 7:
    case 8:
      return 270;
    default:
      return 0;
  }
}

struct Scale {
  double x = 1;
  double y = 1;
};

Scale CalcScale(int src_w, int src_h, const TransformSpec& spec, bool vector_source) {
  const double sw = src_w, sh = src_h;
  const double dw = spec.width > 0 ? spec.width : sw;
  const double dh = spec.height > 0 ? spec.height : sh;
  double wshrink = dw == sw ? 1 : sw / dw;
  double hshrink = dh == sh ? 1 : sh / dh;

  if (wshrink != 1 || hshrink != 1) {
    ResizingType rt = spec.resizing_type;
    if (rt == ResizingType::kAuto) {
      const bool same_orientation = (sw - sh >= 0) == (dw - dh >= 0);
      rt = same_orientation ? ResizingType::kFill : ResizingType::kFit;
    }
    if (spec.width == 0 && rt != ResizingType::kForce) {
      wshrink = hshrink;
    } else if (spec.height == 0 && rt != ResizingType::kForce) {
      hshrink = wshrink;
    } else if (rt == ResizingType::kFit) {
      wshrink = hshrink = std::max(wshrink, hshrink);
    } else if (rt == ResizingType::kFill || rt == ResizingType::kFillDown) {
      wshrink = hshrink = std::min(wshrink, hshrink);
    }
  }

  wshrink /= spec.dpr;
  hshrink /= spec.dpr;

  // Vector sources have no natural size to protect, so they may always be rendered larger.
  if (!spec.enlarge && !vector_source) {
    if (wshrink < 1) {
      hshrink /= wshrink;
      wshrink = 1;
    }
    if (hshrink < 1) {
      wshrink /= hshrink;
      hshrink = 1;
    }
  }
  return {1 / wshrink, 1 / hshrink};
}

// Top-left of an inner box placed in an outer box by `gravity`, clamped inside the outer box. Pixel
// offsets (|v| >= 1) are multiplied by px_x/px_y; fractional ones are of the outer box.
std::pair<int, int> Position(int outer_w, int outer_h, int inner_w, int inner_h, const Gravity& g,
                             double px_x, double px_y) {
  int left = 0;
  int top = 0;
  if (g.type == GravityType::kFocusPoint) {
    left = Round(outer_w * g.x) - inner_w / 2;
    top = Round(outer_h * g.y) - inner_h / 2;
  } else {
    const int off_x = std::abs(g.x) >= 1 ? Round(g.x * px_x) : Round(outer_w * g.x);
    const int off_y = std::abs(g.y) >= 1 ? Round(g.y * px_y) : Round(outer_h * g.y);
    left = (outer_w - inner_w + 1) / 2 + off_x;
    top = (outer_h - inner_h + 1) / 2 + off_y;
    switch (g.type) {
      case GravityType::kNorth:
      case GravityType::kNorthEast:
      case GravityType::kNorthWest:
        top = off_y;
        break;
      case GravityType::kSouth:
      case GravityType::kSouthEast:
      case GravityType::kSouthWest:
        top = outer_h - inner_h - off_y;
        break;
      default:
        break;
    }
    switch (g.type) {
      case GravityType::kWest:
      case GravityType::kNorthWest:
      case GravityType::kSouthWest:
        left = off_x;
        break;
      case GravityType::kEast:
      case GravityType::kNorthEast:
      case GravityType::kSouthEast:
        left = outer_w - inner_w - off_x;
        break;
      default:
        break;
    }
  }
  left = std::clamp(left, 0, std::max(0, outer_w - inner_w));
  top = std::clamp(top, 0, std::max(0, outer_h - inner_h));
  return {left, top};
}

// Every size the pipeline will produce, worked out from the header alone.
struct Plan {
  int total_angle = 0;  // EXIF + requested rotation, degrees
  int oriented_w = 0;   // source size in the output's orientation
  int oriented_h = 0;
  bool has_crop = false;
  int crop_w = 0;  // source crop, oriented source pixels
  int crop_h = 0;
  Scale scale;  // crop → resized
  int resized_w = 0;
  int resized_h = 0;
  int result_w = 0;  // after cropping to the requested box (fill)
  int result_h = 0;
  int canvas_w = 0;  // after extend
  int canvas_h = 0;
};

Plan MakePlan(int src_w, int src_h, int orientation, int rotate, const TransformSpec& spec,
              bool vector_source) {
  Plan p;
  p.total_angle = ((spec.auto_rotate ? ExifAngle(orientation) : 0) + rotate) % 360;
  const bool swap = p.total_angle % 180 != 0;
  p.oriented_w = swap ? src_h : src_w;
  p.oriented_h = swap ? src_w : src_h;

  p.crop_w = p.oriented_w;
  p.crop_h = p.oriented_h;
  if (spec.crop) {
    p.crop_w = CropSize(p.oriented_w, spec.crop->width);
    p.crop_h = CropSize(p.oriented_h, spec.crop->height);
    p.has_crop = p.crop_w != p.oriented_w || p.crop_h != p.oriented_h;
  }

  p.scale = CalcScale(p.crop_w, p.crop_h, spec, vector_source);
  p.resized_w = std::max(1, Round(p.crop_w * p.scale.x));
  p.resized_h = std::max(1, Round(p.crop_h * p.scale.y));

  const int box_w = spec.width > 0 ? Round(spec.width * spec.dpr) : 0;
  const int box_h = spec.height > 0 ? Round(spec.height * spec.dpr) : 0;
  int crop_box_w = box_w;
  int crop_box_h = box_h;
  if (spec.resizing_type == ResizingType::kFillDown && box_w > 0 && box_h > 0) {
    // Never upscale: keep the requested aspect ratio at the largest size the image allows.
    const double diff_w = static_cast<double>(box_w) / p.resized_w;
    const double diff_h = static_cast<double>(box_h) / p.resized_h;
    if (diff_w > diff_h && diff_w > 1) {
      crop_box_h = Round(p.resized_w * static_cast<double>(box_h) / box_w);
      crop_box_w = p.resized_w;
    } else if (diff_h > diff_w && diff_h > 1) {
      crop_box_w = Round(p.resized_h * static_cast<double>(box_w) / box_h);
      crop_box_h = p.resized_h;
    }
  }
  p.result_w = crop_box_w > 0 ? std::min(crop_box_w, p.resized_w) : p.resized_w;
  p.result_h = crop_box_h > 0 ? std::min(crop_box_h, p.resized_h) : p.resized_h;

  p.canvas_w = p.result_w;
  p.canvas_h = p.result_h;
  if (spec.extend) {
    p.canvas_w = std::max(p.canvas_w, box_w);
    p.canvas_h = std::max(p.canvas_h, box_h);
  }
  return p;
}

// --- Pixel steps ---

VImage ToSrgb(VImage img) {
  if (img.get_typeof(VIPS_META_ICC_NAME) != 0) {
    try {
      img = img.icc_transform(
          "srgb", VImage::option()->set("embedded", true)->set("intent", VIPS_INTENT_PERCEPTUAL));
    } catch (const vips::VError&) {
      // A broken embedded profile: fall back to libvips' built-in conversion below.
      vips_error_clear();
      img.remove(VIPS_META_ICC_NAME);
    }
  }
  if (img.interpretation() != VIPS_INTERPRETATION_sRGB) {
    img = img.colourspace(VIPS_INTERPRETATION_sRGB);
  }
  if (img.format() != VIPS_FORMAT_UCHAR) img = img.cast(VIPS_FORMAT_UCHAR);
  return img;
}

// Runs `step` on premultiplied pixels when there is alpha, so that transparent pixels' colour does
// not bleed into their neighbours.
template <typename Step>
VImage Premultiplied(const VImage& img, Step step) {
  if (!img.has_alpha()) return step(img);
  return step(img.premultiply()).unpremultiply().cast(VIPS_FORMAT_UCHAR);
}

std::vector<double> Colour(const Rgb& c, bool with_alpha, double alpha) {
  std::vector<double> v{static_cast<double>(c.r), static_cast<double>(c.g),
                        static_cast<double>(c.b)};
  if (with_alpha) v.push_back(alpha);
  return v;
}

VImage Orient(VImage img, const TransformSpec& spec, int rotate) {
  if (spec.auto_rotate) img = img.autorot();
  switch (rotate) {
    case 90:
      img = img.rot90();
      break;
    case 180:
      img = img.rot180();
      break;
    case 270:
      img = img.rot270();
      break;
    default:
      break;
  }
  if (spec.flip_horizontal) img = img.flip(VIPS_DIRECTION_HORIZONTAL);
  if (spec.flip_vertical) img = img.flip(VIPS_DIRECTION_VERTICAL);
  return img;
}

VImage SmartCrop(const VImage& img, int w, int h) {
  return img.smartcrop(w, h, VImage::option()->set("interesting", VIPS_INTERESTING_ATTENTION));
}

BlobPtr Encode(const VImage& img, ImageFormat format, const TransformSpec& spec) {
  const int q = spec.quality > 0 ? spec.quality : DefaultQuality(format);
  const bool strip = spec.strip_metadata;
  VipsBlob* blob = nullptr;
  switch (format) {
    case ImageFormat::kJpeg:
      blob = img.jpegsave_buffer(
          VImage::option()->set("Q", q)->set("optimize_coding", true)->set("strip", strip));
      break;
    case ImageFormat::kPng:
      blob = img.pngsave_buffer(VImage::option()->set("compression", 6)->set("strip", strip));
      break;
    case ImageFormat::kWebp:
      blob =
          img.webpsave_buffer(VImage::option()->set("Q", q)->set("effort", 4)->set("strip", strip));
      break;
    case ImageFormat::kAvif:
      // Effort 4 keeps aom fast enough for on-the-fly use; 8-bit because the pipeline is 8-bit.
      blob = img.heifsave_buffer(VImage::option()
                                     ->set("compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1)
                                     ->set("Q", q)
                                     ->set("effort", 4)
                                     ->set("bitdepth", 8)
                                     ->set("strip", strip));
      break;
    case ImageFormat::kGif:
      blob = img.gifsave_buffer(VImage::option()->set("strip", strip));
      break;
    case ImageFormat::kTiff:
      blob = img.tiffsave_buffer(VImage::option()
                                     ->set("compression", VIPS_FOREIGN_TIFF_COMPRESSION_DEFLATE)
                                     ->set("strip", strip));
      break;
    default:
      break;
  }
  return BlobPtr(blob);
}

std::string TimeoutMessage(const PipelineLimits& limits) {
  return "processing took longer than " + std::to_string(limits.timeout.count()) + " ms";
}

// The libvips part of Process(); may throw vips::VError, which the caller maps.
Result<EncodedImage> Run(std::string_view source, const TransformSpec& spec,
                         const PipelineLimits& limits, DeadlineState& deadline) {
  const ImageFormat src_format = SniffFormat(source);
  if (src_format == ImageFormat::kUnknown || !HasUsableLoader(source)) {
    return Fail(ErrorCode::kUnsupportedMedia, "source is not a supported image format");
  }

  const int rotate = ((spec.rotate % 360) + 360) % 360;
  if (rotate % 90 != 0) return Fail(ErrorCode::kBadRequest, "rotate must be 0, 90, 180 or 270");
  if (!(spec.dpr > 0)) return Fail(ErrorCode::kBadRequest, "dpr must be positive");
  if (spec.format != ImageFormat::kUnknown &&
      (!IsWritable(spec.format) || !CanEncode(spec.format))) {
    return Fail(ErrorCode::kUnsupportedMedia, std::string(FormatExtension(spec.format)) +
                                                  " output is not available in this build");
  }

  // The header only: loaders are lazy, so no pixels are decoded before the limit check.
  std::optional<VImage> header;
  try {
    header = VImage::new_from_buffer(source.data(), source.size(), "",
                                     VImage::option()->set("access", VIPS_ACCESS_SEQUENTIAL));
  } catch (const vips::VError&) {
    vips_error_clear();
    return Fail(ErrorCode::kUnprocessable, "source image could not be decoded");
  }
  const int src_w = header->width();
  const int src_h = header->height();
  const int pages = header->get_typeof(VIPS_META_N_PAGES) != 0
                        ? std::max(1, header->get_int(VIPS_META_N_PAGES))
                        : 1;
  const int64_t pixels = int64_t{src_w} * src_h * pages;
  if (pixels > limits.max_src_pixels) {
    return Fail(ErrorCode::kTooLarge,
                "source image is " + std::to_string(src_w) + "×" + std::to_string(src_h) +
                    (pages > 1 ? " × " + std::to_string(pages) + " frames" : "") +
                    ", over the limit of " + std::to_string(limits.max_src_pixels) + " pixels");
  }
  const int orientation =
      header->get_typeof(VIPS_META_ORIENTATION) != 0 ? header->get_int(VIPS_META_ORIENTATION) : 1;
  header.reset();

  const bool vector_source = src_format == ImageFormat::kSvg;
  const Plan plan = MakePlan(src_w, src_h, orientation, rotate, spec, vector_source);
  if (plan.canvas_w > limits.max_result_dimension || plan.canvas_h > limits.max_result_dimension) {
    return Fail(ErrorCode::kBadRequest, "result would be " + std::to_string(plan.canvas_w) + "×" +
                                            std::to_string(plan.canvas_h) + ", over the limit of " +
                                            std::to_string(limits.max_result_dimension) +
                                            " pixels per side");
  }

  // Shrink-on-load: decode at the smallest size that is still at least the resized size.
  auto load_options = VImage::option()->set("fail_on", VIPS_FAIL_ON_TRUNCATED);
  const double prescale = std::max(plan.scale.x, plan.scale.y);
  if (src_format == ImageFormat::kJpeg && prescale < 1) {
    const double shrink = 1 / prescale;
    load_options->set("shrink", shrink >= 8 ? 8 : shrink >= 4 ? 4 : shrink >= 2 ? 2 : 1);
  } else if ((src_format == ImageFormat::kWebp && prescale < 1) || vector_source) {
    load_options->set("scale", prescale);
  }
  const Gravity& crop_gravity =
      spec.crop && spec.crop->gravity ? *spec.crop->gravity : spec.gravity;
  // Sequential access streams the decode; rotation, vertical flips and the attention crop read out
  // of order and need the decoded image in memory instead.
  const bool needs_random = plan.total_angle != 0 || orientation > 1 || spec.flip_vertical ||
                            spec.gravity.type == GravityType::kSmart ||
                            (plan.has_crop && crop_gravity.type == GravityType::kSmart);
  load_options->set("access", needs_random ? VIPS_ACCESS_RANDOM : VIPS_ACCESS_SEQUENTIAL);

  VImage loaded;
  try {
    loaded = VImage::new_from_buffer(source.data(), source.size(), "", load_options);
  } catch (const vips::VError&) {
    vips_error_clear();
    return Fail(ErrorCode::kUnprocessable, "source image could not be decoded");
  }
  EvalWatch load_watch(loaded, &deadline);

  VImage img = Orient(ToSrgb(loaded), spec, rotate);
  const double pre_x = static_cast<double>(plan.oriented_w) / img.width();
  const double pre_y = static_cast<double>(plan.oriented_h) / img.height();

  if (plan.has_crop) {
    const int w = std::clamp(Round(plan.crop_w / pre_x), 1, img.width());
    const int h = std::clamp(Round(plan.crop_h / pre_y), 1, img.height());
    if (crop_gravity.type == GravityType::kSmart) {
      img = SmartCrop(img, w, h);
    } else {
      const auto [left, top] =
          Position(img.width(), img.height(), w, h, crop_gravity, 1 / pre_x, 1 / pre_y);
      img = img.extract_area(left, top, w, h);
    }
  }

  if (img.width() != plan.resized_w || img.height() != plan.resized_h) {
    const double hscale = static_cast<double>(plan.resized_w) / img.width();
    const double vscale = static_cast<double>(plan.resized_h) / img.height();
    img = Premultiplied(img, [&](const VImage& in) {
      return in.resize(hscale, VImage::option()->set("vscale", vscale));
    });
  }

  if (img.width() > plan.result_w || img.height() > plan.result_h) {
    const int w = std::min(plan.result_w, img.width());
    const int h = std::min(plan.result_h, img.height());
    if (spec.gravity.type == GravityType::kSmart) {
      img = SmartCrop(img, w, h);
    } else {
      const auto [left, top] =
          Position(img.width(), img.height(), w, h, spec.gravity, spec.dpr, spec.dpr);
      img = img.extract_area(left, top, w, h);
    }
  }
  if (deadline.expired || Clock::now() >= deadline.deadline) {
    return Fail(ErrorCode::kGatewayTimeout, TimeoutMessage(limits));
  }

  if (spec.blur > 0) {
    img = Premultiplied(img, [&](const VImage& in) { return in.gaussblur(spec.blur); });
  }
  if (spec.sharpen > 0) {
    img = img.sharpen(VImage::option()->set("sigma", spec.sharpen));
  }

  if (img.width() < plan.canvas_w || img.height() < plan.canvas_h) {
    std::vector<double> fill;
    if (spec.background) {
      fill = Colour(*spec.background, img.has_alpha(), 255);
    } else {
      // Transparent padding; flattened below when the output format cannot carry alpha.
      if (!img.has_alpha()) img = img.bandjoin_const({255});
      fill = {0, 0, 0, 0};
    }
    const auto [left, top] = Position(plan.canvas_w, plan.canvas_h, img.width(), img.height(),
                                      spec.extend_gravity, spec.dpr, spec.dpr);
    img =
        img.embed(left, top, plan.canvas_w, plan.canvas_h,
                  VImage::option()->set("extend", VIPS_EXTEND_BACKGROUND)->set("background", fill));
  }

  ImageFormat out_format = spec.format;
  if (out_format == ImageFormat::kUnknown) {
    out_format = IsWritable(src_format) && CanEncode(src_format) ? src_format
                 : img.has_alpha()                               ? ImageFormat::kPng
                                                                 : ImageFormat::kJpeg;
  }
  if (img.has_alpha() && (spec.background || !SupportsAlpha(out_format))) {
    img = img.flatten(
        VImage::option()->set("background", Colour(spec.background.value_or(Rgb{}), false, 0)));
  }

  EvalWatch final_watch(img, &deadline);
  BlobPtr blob = Encode(img, out_format, spec);
  if (!blob) return Fail(ErrorCode::kInternal, "no encoder for the output format");

  EncodedImage out;
  const auto* data = static_cast<const char*>(VIPS_AREA(blob.get())->data);
  out.bytes.assign(data, VIPS_AREA(blob.get())->length);
  out.format = out_format;
  out.width = img.width();
  out.height = img.height();
  return out;
}

}  // namespace

common::Result<void> PipelineLimits::Validate() const {
  if (max_src_pixels <= 0) {
    return Fail(ErrorCode::kBadRequest, "max_src_pixels must be positive");
  }
  if (max_result_dimension <= 0) {
    return Fail(ErrorCode::kBadRequest, "max_result_dimension must be positive");
  }
  if (timeout.count() <= 0) {
    return Fail(ErrorCode::kBadRequest, "timeout must be positive");
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
    // Keeps loaders that libvips marks as unsafe for hostile input (ImageMagick, PDF, JPEG 2000,
    // JPEG XL, FITS …) out of reach of bytes fetched from the internet. SVG is marked too, but it
    // is a format image CDNs are expected to serve, as imgproxy does, so librsvg stays on.
    vips_block_untrusted_set(TRUE);
    vips_operation_block_set("VipsForeignLoadSvg", FALSE);
  });
}

common::Result<EncodedImage> Process(std::string_view source, const TransformSpec& spec,
                                     const PipelineLimits& limits) {
  DeadlineState deadline;
  deadline.deadline = Clock::now() + limits.timeout;
  try {
    return Run(source, spec, limits, deadline);
  } catch (const vips::VError&) {
    vips_error_clear();
    if (deadline.expired) return Fail(ErrorCode::kGatewayTimeout, TimeoutMessage(limits));
    return Fail(ErrorCode::kUnprocessable, "source image could not be processed");
  }
}

}  // namespace imgorigin::transforms
