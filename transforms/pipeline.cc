#include "transforms/pipeline.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#include <vips/vips8>
#include <vips/vector.h>  // after vips8: it relies on its types

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
    case ImageFormat::kJxl:
      return true;
    default:
      return false;
  }
}

bool SupportsAlpha(ImageFormat format) { return format != ImageFormat::kJpeg; }

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

  wshrink /= spec.zoom_x * spec.dpr;
  hshrink /= spec.zoom_y * spec.dpr;

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
  // min-width/min-height win over enlarge (imgproxy: they exist to guarantee a size), keeping the
  // aspect ratio.
  if (spec.min_width > 0) {
    const double min_shrink = sw / (spec.min_width * spec.dpr);
    if (min_shrink < wshrink) {
      hshrink /= wshrink / min_shrink;
      wshrink = min_shrink;
    }
  }
  if (spec.min_height > 0) {
    const double min_shrink = sh / (spec.min_height * spec.dpr);
    if (min_shrink < hshrink) {
      wshrink /= hshrink / min_shrink;
      hshrink = min_shrink;
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
  int aspect_w = 0;  // after extend_aspect_ratio
  int aspect_h = 0;
  int pad_top = 0;  // padding in output pixels
  int pad_right = 0;
  int pad_bottom = 0;
  int pad_left = 0;
  int final_w = 0;  // after padding: the output size
  int final_h = 0;
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

  const int box_w = spec.width > 0 ? Round(spec.width * spec.dpr * spec.zoom_x) : 0;
  const int box_h = spec.height > 0 ? Round(spec.height * spec.dpr * spec.zoom_y) : 0;
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

  // Grows one side until the canvas has the requested aspect ratio; never crops.
  p.aspect_w = p.canvas_w;
  p.aspect_h = p.canvas_h;
  if (spec.extend_aspect_ratio && box_w > 0 && box_h > 0) {
    const double wanted = static_cast<double>(box_w) / box_h;
    if (wanted > static_cast<double>(p.canvas_w) / p.canvas_h) {
      p.aspect_w = std::max(p.canvas_w, Round(p.canvas_h * wanted));
    } else {
      p.aspect_h = std::max(p.canvas_h, Round(p.canvas_w / wanted));
    }
  }

  p.pad_top = Round(spec.padding.top * spec.dpr);
  p.pad_right = Round(spec.padding.right * spec.dpr);
  p.pad_bottom = Round(spec.padding.bottom * spec.dpr);
  p.pad_left = Round(spec.padding.left * spec.dpr);
  p.final_w = p.aspect_w + p.pad_left + p.pad_right;
  p.final_h = p.aspect_h + p.pad_top + p.pad_bottom;
  return p;
}

// --- Pixel steps ---

// Pixels that can keep their embedded profile: RGB, which every output format can carry with an
// ICC profile. CMYK, grey and Lab sources are always converted.
bool CanKeepProfile(const VImage& img) {
  return img.get_typeof(VIPS_META_ICC_NAME) != 0 && img.bands() >= 3 &&
         (img.interpretation() == VIPS_INTERPRETATION_sRGB ||
          img.interpretation() == VIPS_INTERPRETATION_RGB16 ||
          img.interpretation() == VIPS_INTERPRETATION_RGB);
}

// 8-bit RGB(A) for processing. With keep_profile and an RGB profile, the pixels stay in that
// profile's space and the profile stays attached; otherwise they are converted to sRGB (through
// the embedded profile when there is one, CMYK included) and the profile is dropped, as the
// result is plain sRGB.
VImage ToWorkingSpace(VImage img, bool keep_profile) {
  const bool keep = keep_profile && CanKeepProfile(img);
  if (!keep && img.get_typeof(VIPS_META_ICC_NAME) != 0) {
    try {
      img = img.icc_transform(
          "srgb", VImage::option()->set("embedded", true)->set("intent", VIPS_INTENT_PERCEPTUAL));
    } catch (const vips::VError&) {
      // A broken embedded profile: fall back to libvips' built-in conversion below.
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

// Places `img` at (left, top) on a w×h canvas of the background colour, or transparent when the
// spec has none (flattened later if the output format cannot carry alpha).
VImage Embed(VImage img, int left, int top, int w, int h, const TransformSpec& spec) {
  std::vector<double> fill;
  if (spec.background) {
    fill = Colour(*spec.background, img.has_alpha(), 255);
  } else {
    if (!img.has_alpha()) img = img.bandjoin_const({255});
    fill = {0, 0, 0, 0};
  }
  return img.embed(
      left, top, w, h,
      VImage::option()->set("extend", VIPS_EXTEND_BACKGROUND)->set("background", fill));
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

// pixelate: averages size×size blocks (anchored at the top-left) and scales them back up.
VImage Pixelate(const VImage& img, int size) {
  const int w = img.width();
  const int h = img.height();
  const int padded_w = (w + size - 1) / size * size;
  const int padded_h = (h + size - 1) / size * size;
  return Premultiplied(img, [&](const VImage& in) {
    return in.embed(0, 0, padded_w, padded_h, VImage::option()->set("extend", VIPS_EXTEND_COPY))
        .shrink(size, size)
        .zoom(size, size)
        .extract_area(0, 0, w, h);
  });
}

// The configured watermark, scaled and made translucent, composited over `img`.
VImage ApplyWatermark(const VImage& img, const Watermark& spec, const std::string& data,
                      double dpr) {
  VImage mark =
      ToWorkingSpace(VImage::new_from_buffer(data.data(), data.size(), "",
                                             VImage::option()->set("access", VIPS_ACCESS_RANDOM)),
                     false);
  if (!mark.has_alpha()) mark = mark.bandjoin_const({255});
  // scale is relative to the result's width; without it the watermark keeps its natural size
  // (times dpr, so it looks the same on dense screens). It never outgrows the image.
  double factor = spec.scale > 0 ? img.width() * spec.scale / mark.width() : dpr;
  factor = std::min({factor, static_cast<double>(img.width()) / mark.width(),
                     static_cast<double>(img.height()) / mark.height()});
  if (std::abs(factor - 1) > 1e-9) {
    mark = Premultiplied(mark, [&](const VImage& in) { return in.resize(factor); });
  }
  const VImage colour = mark.extract_band(0, VImage::option()->set("n", 3));
  mark = colour.bandjoin((mark.extract_band(3) * spec.opacity).cast(VIPS_FORMAT_UCHAR));

  VImage overlay;
  if (spec.replicate) {
    const int across = (img.width() + mark.width() - 1) / mark.width();
    const int down = (img.height() + mark.height() - 1) / mark.height();
    overlay = mark.replicate(across, down).extract_area(0, 0, img.width(), img.height());
  } else {
    const auto [left, top] =
        Position(img.width(), img.height(), mark.width(), mark.height(), spec.position, dpr, dpr);
    overlay = mark.embed(left, top, img.width(), img.height());
  }
  VImage base = img.has_alpha() ? img : img.bandjoin_const({255});
  VImage out = base.composite2(overlay, VIPS_BLEND_MODE_OVER).cast(VIPS_FORMAT_UCHAR);
  out = out.copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
  return img.has_alpha() ? out : out.extract_band(0, VImage::option()->set("n", 3));
}

bool HasPrefix(std::string_view name, std::string_view prefix) {
  return name.substr(0, prefix.size()) == prefix;
}

// Removes metadata the client does not need. libvips' own "strip" would also drop the ICC
// profile and cannot keep a copyright, so fields are removed one by one: the savers rebuild EXIF
// from the "exif-ifd…" fields that remain, so keeping exif-ifd0-Copyright keeps the copyright.
// The savers always write that rebuilt EXIF (resolution tags at least), so when nothing is left
// to keep, the caller lets the saver strip instead.
VImage StripMetadata(VImage img, bool keep_copyright) {
  img = img.copy();
  char** fields = vips_image_get_fields(img.get_image());
  for (char** field = fields; *field != nullptr; ++field) {
    const std::string_view name = *field;
    if (keep_copyright && name == "exif-ifd0-Copyright") continue;
    const bool metadata = HasPrefix(name, "exif-") || HasPrefix(name, "xmp-") ||
                          HasPrefix(name, "iptc-") || HasPrefix(name, "ipct-") ||
                          HasPrefix(name, "png-comment-") || HasPrefix(name, "gif-comment") ||
                          HasPrefix(name, "jpeg-") || name == VIPS_META_ORIENTATION ||
                          name == "heif-primary" || name == "heif-compression";
    if (metadata) img.remove(*field);
  }
  g_strfreev(fields);
  return img;
}

// Encoder settings, compared with sharp 0.35's defaults on the same 600 px resizes of two photos
// (docs/transforms.md has the numbers): JPEG q80 with optimised Huffman tables and libvips' auto
// chroma mode (4:2:0 below q90), optionally progressive — the same bytes as sharp ±0.1%; PNG zlib
// level 6 with row filtering off (sharp's choice; 1–2% smaller than sharp here); WebP q79 effort 4
// (0.5–4% smaller than sharp's q80, −0.1 to −0.3 dB); AVIF q50 effort 4 with 4:2:0 chroma (sharp
// keeps 4:4:4; with Debian's older libaom neither setting beats sharp's bundled libaom on every
// image); JXL q77 effort 4. Metadata is handled by StripMetadata; `strip` tells the saver to write
// none at all.
BlobPtr Encode(const VImage& img, ImageFormat format, int q, bool strip,
               const PipelineLimits& config) {
  VipsBlob* blob = nullptr;
  switch (format) {
    case ImageFormat::kJpeg:
      blob = img.jpegsave_buffer(VImage::option()
                                     ->set("Q", q)
                                     ->set("optimize_coding", true)
                                     ->set("interlace", config.jpeg_progressive)
                                     ->set("subsample_mode", VIPS_FOREIGN_SUBSAMPLE_AUTO)
                                     ->set("strip", strip));
      break;
    case ImageFormat::kPng:
      blob = img.pngsave_buffer(VImage::option()
                                    ->set("compression", 6)
                                    ->set("interlace", config.png_interlaced)
                                    ->set("filter", VIPS_FOREIGN_PNG_FILTER_NONE)
                                    ->set("strip", strip));
      break;
    case ImageFormat::kWebp:
      blob =
          img.webpsave_buffer(VImage::option()->set("Q", q)->set("effort", 4)->set("strip", strip));
      break;
    case ImageFormat::kAvif:
      // 8-bit because the pipeline is 8-bit.
      blob = img.heifsave_buffer(VImage::option()
                                     ->set("compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1)
                                     ->set("Q", q)
                                     ->set("effort", 4)
                                     ->set("bitdepth", 8)
                                     ->set("subsample_mode", VIPS_FOREIGN_SUBSAMPLE_AUTO)
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
    case ImageFormat::kJxl:
      blob =
          img.jxlsave_buffer(VImage::option()->set("Q", q)->set("effort", 4)->set("strip", strip));
      break;
    default:
      break;
  }
  return BlobPtr(blob);
}

std::string TimeoutMessage(const PipelineLimits& limits) {
  return "processing took longer than " + std::to_string(limits.timeout.count()) + " ms";
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

bool IsHeif(ImageFormat format) {
  return format == ImageFormat::kHeic || format == ImageFormat::kAvif;
}

// Everything one frame goes through, from the decoded (working-space) source to the output
// canvas: orientation, crop, resize, result crop, filters, extend, aspect ratio, padding.
VImage TransformFrame(VImage img, const TransformSpec& spec, const Plan& plan, int rotate) {
  img = Orient(img, spec, rotate);
  const double pre_x = static_cast<double>(plan.oriented_w) / img.width();
  const double pre_y = static_cast<double>(plan.oriented_h) / img.height();
  const Gravity& crop_gravity =
      spec.crop && spec.crop->gravity ? *spec.crop->gravity : spec.gravity;

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

  if (spec.blur > 0) {
    img = Premultiplied(img, [&](const VImage& in) { return in.gaussblur(spec.blur); });
  }
  if (spec.sharpen > 0) {
    img = img.sharpen(VImage::option()->set("sigma", spec.sharpen));
  }
  if (const int size = Round(spec.pixelate * spec.dpr); size > 1) img = Pixelate(img, size);

  if (img.width() < plan.canvas_w || img.height() < plan.canvas_h) {
    const auto [left, top] = Position(plan.canvas_w, plan.canvas_h, img.width(), img.height(),
                                      spec.extend_gravity, spec.dpr, spec.dpr);
    img = Embed(img, left, top, plan.canvas_w, plan.canvas_h, spec);
  }
  if (img.width() < plan.aspect_w || img.height() < plan.aspect_h) {
    const auto [left, top] = Position(plan.aspect_w, plan.aspect_h, img.width(), img.height(),
                                      spec.extend_aspect_ratio_gravity, spec.dpr, spec.dpr);
    img = Embed(img, left, top, plan.aspect_w, plan.aspect_h, spec);
  }
  if (plan.final_w != img.width() || plan.final_h != img.height()) {
    img = Embed(img, plan.pad_left, plan.pad_top, plan.final_w, plan.final_h, spec);
  }
  return img;
}

EncodedImage Untouched(std::string_view source, ImageFormat format, int width, int height) {
  return EncodedImage{std::string(source), format, width, height};
}

// The libvips part of Process(); may throw vips::VError, which the caller maps. With `path`
// set, `source` holds only the file's first bytes (enough to tell the format) and libvips reads
// the file itself (ProcessFile()).
Result<EncodedImage> Run(std::string_view source, const char* path, const TransformSpec& spec,
                         const PipelineLimits& limits, DeadlineState& deadline) {
  const ImageFormat src_format = SniffFormat(source);
  // raw is "unchecked" in imgproxy: the bytes go out as they came, even if they are not an image.
  if (spec.raw) return Untouched(source, src_format, 0, 0);
  if (src_format == ImageFormat::kUnknown || !CanDecode(source)) {
    return Fail(ErrorCode::kUnsupported, "source is not a supported image format");
  }
  if (src_format == ImageFormat::kSvg) {
    if (auto checked = CheckSvgIsSelfContained(source); !checked)
      return std::unexpected(checked.error());
  }

  const int rotate = ((spec.rotate % 360) + 360) % 360;
  if (rotate % 90 != 0) return Fail(ErrorCode::kInvalidArgument, "rotate must be 0, 90, 180 or 270");
  if (!(spec.dpr > 0) || !(spec.zoom_x > 0) || !(spec.zoom_y > 0)) {
    return Fail(ErrorCode::kInvalidArgument, "dpr and zoom must be positive");
  }
  if (spec.format != ImageFormat::kUnknown &&
      (!IsWritable(spec.format) || !CanEncode(spec.format))) {
    return Fail(ErrorCode::kUnsupported, std::string(FormatExtension(spec.format)) +
                                                  " output is not available in this build");
  }
  const bool watermark = spec.watermark && spec.watermark->opacity > 0;
  if (watermark && limits.watermark_data.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "watermark: no watermark configured on this server");
  }

  // enforce_thumbnail: HEIF containers may carry a small pre-rendered thumbnail; libheif falls
  // back to the main image when there is none.
  const bool use_thumbnail = spec.enforce_thumbnail && IsHeif(src_format);

  // The header only: loaders are lazy, so no pixels are decoded before the limit check.
  std::optional<VImage> header;
  try {
    auto options = VImage::option()->set("access", VIPS_ACCESS_SEQUENTIAL);
    if (use_thumbnail) options->set("thumbnail", true);
    header = path != nullptr ? VImage::new_from_file(path, options)
                             : VImage::new_from_buffer(source.data(), source.size(), "", options);
  } catch (const vips::VError&) {
    vips_error_clear();
    return Fail(ErrorCode::kInvalidImage, "source image could not be decoded");
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
  const bool source_alpha = header->has_alpha();
  header.reset();

  const bool skip = std::find(spec.skip_processing.begin(), spec.skip_processing.end(),
                              src_format) != spec.skip_processing.end();
  if (skip && (spec.format == ImageFormat::kUnknown || spec.format == src_format)) {
    return Untouched(source, src_format, src_w, src_h);
  }

  // Animation: GIF and WebP frames stacked into one tall image ("page-height"). Over the frame
  // limit, or into a format that cannot animate, only the first frame is kept.
  const bool animated_source =
      pages > 1 && pages <= limits.max_animation_frames &&
      (src_format == ImageFormat::kGif || src_format == ImageFormat::kWebp);
  const bool may_be_transparent =
      !spec.background &&
      (source_alpha || spec.extend || spec.extend_aspect_ratio || spec.padding != Padding{});
  const ImageFormat out_format =
      OutputFormat(spec, src_format, may_be_transparent, animated_source);
  if (!IsWritable(out_format) || !CanEncode(out_format)) {
    return Fail(ErrorCode::kUnsupported, std::string(FormatExtension(out_format)) +
                                                  " output is not available in this build");
  }
  const bool animated = animated_source && CanAnimate(out_format);
  const int frames = animated ? pages : 1;
  const bool keep_profile = !spec.strip_color_profile;

  const Gravity& crop_gravity =
      spec.crop && spec.crop->gravity ? *spec.crop->gravity : spec.gravity;
  // Sequential access streams the decode; rotation, vertical flips, the attention crop, trim and
  // frame splitting read out of order and need the decoded image in memory instead.
  const bool needs_random = rotate != 0 || orientation > 1 || spec.flip_vertical ||
                            spec.gravity.type == GravityType::kSmart ||
                            crop_gravity.type == GravityType::kSmart || spec.trim || animated;

  auto load = [&](vips::VOption* options) -> std::optional<VImage> {
    options->set("fail_on", VIPS_FAIL_ON_TRUNCATED)
        ->set("access", needs_random ? VIPS_ACCESS_RANDOM : VIPS_ACCESS_SEQUENTIAL);
    if (use_thumbnail) options->set("thumbnail", true);
    try {
      return path != nullptr ? VImage::new_from_file(path, options)
                             : VImage::new_from_buffer(source.data(), source.size(), "", options);
    } catch (const vips::VError&) {
      vips_error_clear();
      return std::nullopt;
    }
  };

  // trim needs the decoded pixels to find the border, so it decodes the whole source first; the
  // trimmed image then stands in for the source (no shrink-on-load).
  std::optional<VImage> trimmed;
  int work_w = src_w;
  int work_h = src_h;
  if (spec.trim && !animated) {
    auto full = load(VImage::option());
    if (!full) return Fail(ErrorCode::kInvalidImage, "source image could not be decoded");
    EvalWatch watch(*full, &deadline);
    trimmed = TrimBorder(ToWorkingSpace(*full, keep_profile), *spec.trim).copy_memory();
    work_w = trimmed->width();
    work_h = trimmed->height();
  }

  const bool vector_source = src_format == ImageFormat::kSvg;
  const Plan plan = MakePlan(work_w, work_h, orientation, rotate, spec, vector_source);
  if (plan.final_w > limits.max_result_dimension || plan.final_h > limits.max_result_dimension) {
    return Fail(ErrorCode::kInvalidArgument, "result would be " + std::to_string(plan.final_w) + "×" +
                                            std::to_string(plan.final_h) + ", over the limit of " +
                                            std::to_string(limits.max_result_dimension) +
                                            " pixels per side");
  }

  VImage working;
  std::optional<EvalWatch> load_watch;
  if (trimmed) {
    working = *trimmed;
  } else {
    auto options = VImage::option();
    // Shrink-on-load: decode at the smallest size that is still at least the resized size.
    // Animations are decoded at full size: the loaders shrink frames inconsistently.
    const double prescale = std::max(plan.scale.x, plan.scale.y);
    if (animated) {
      options->set("n", frames);
    } else if (src_format == ImageFormat::kJpeg && prescale < 1) {
      const double shrink = 1 / prescale;
      options->set("shrink", shrink >= 8 ? 8 : shrink >= 4 ? 4 : shrink >= 2 ? 2 : 1);
    } else if ((src_format == ImageFormat::kWebp && prescale < 1) || vector_source) {
      options->set("scale", prescale);
    }
    auto loaded = load(options);
    if (!loaded) return Fail(ErrorCode::kInvalidImage, "source image could not be decoded");
    load_watch.emplace(*loaded, &deadline);
    working = ToWorkingSpace(*loaded, keep_profile);
  }

  const int frame_h = animated ? working.height() / frames : working.height();
  std::vector<VImage> results;
  results.reserve(frames);
  for (int i = 0; i < frames; ++i) {
    VImage frame =
        animated ? working.extract_area(0, i * frame_h, working.width(), frame_h) : working;
    frame = TransformFrame(frame, spec, plan, rotate);
    if (frame.has_alpha() && (spec.background || !SupportsAlpha(out_format))) {
      frame = frame.flatten(
          VImage::option()->set("background", Colour(spec.background.value_or(Rgb{}), false, 0)));
    }
    if (watermark) {
      frame = ApplyWatermark(frame, *spec.watermark, limits.watermark_data, spec.dpr);
    }
    if (animated) frame = frame.copy_memory();
    if (deadline.expired || Clock::now() >= deadline.deadline) {
      return Fail(ErrorCode::kDeadlineExceeded, TimeoutMessage(limits));
    }
    results.push_back(std::move(frame));
  }

  VImage img =
      animated ? VImage::arrayjoin(results, VImage::option()->set("across", 1)) : results.front();
  img = spec.strip_metadata ? StripMetadata(img, spec.keep_copyright) : img.copy();
  const bool saver_strips = spec.strip_metadata && img.get_typeof(VIPS_META_ICC_NAME) == 0 &&
                            img.get_typeof("exif-ifd0-Copyright") == 0;
  img.remove(VIPS_META_ORIENTATION);  // the pixels are upright now (or ar:0 asked for raw ones)
  if (animated) {
    // Frame timing survives the round trip; loaders without it (rare) get imgproxy's 40 ms.
    std::vector<int> delay;
    if (working.get_typeof("delay") != 0) delay = working.get_array_int("delay");
    delay.resize(frames, 40);
    img.set(VIPS_META_PAGE_HEIGHT, results.front().height());
    img.set(VIPS_META_N_PAGES, frames);
    img.set("delay", delay);
    img.set("loop", working.get_typeof("loop") != 0 ? working.get_int("loop") : 0);
  } else if (img.get_typeof(VIPS_META_PAGE_HEIGHT) != 0) {
    img.remove(VIPS_META_PAGE_HEIGHT);
    img.remove(VIPS_META_N_PAGES);
  }

  EvalWatch final_watch(img, &deadline);
  int quality = QualityFor(spec, out_format, limits);
  const bool fit_bytes = spec.max_bytes > 0 && HasQuality(out_format);
  // Encoded several times: render the pixels once.
  if (fit_bytes) img = img.copy_memory();
  BlobPtr blob;
  for (;;) {
    blob = Encode(img, out_format, quality, saver_strips, limits);
    if (!blob) return Fail(ErrorCode::kInternal, "no encoder for the output format");
    const auto size = static_cast<int64_t>(VIPS_AREA(blob.get())->length);
    // imgproxy's search: big steps while far over, small ones when close; stops at q10.
    if (!fit_bytes || size <= spec.max_bytes || quality <= 10) break;
    const double over = static_cast<double>(size) / static_cast<double>(spec.max_bytes);
    const double factor = over > 3 ? 0.25 : over > 1.5 ? 0.5 : 0.75;
    quality = std::max(10, static_cast<int>(quality * factor));
  }

  EncodedImage out;
  const auto* data = static_cast<const char*>(VIPS_AREA(blob.get())->data);
  out.bytes.assign(data, VIPS_AREA(blob.get())->length);
  out.format = out_format;
  out.width = img.width();
  out.height = animated ? results.front().height() : img.height();
  return out;
}

}  // namespace

common::Result<void> PipelineLimits::LoadWatermark() {
  if (watermark_path.empty()) return {};
  std::FILE* file = std::fopen(watermark_path.c_str(), "rb");
  if (file == nullptr) {
    return Fail(ErrorCode::kInternal, "watermark_path: cannot open " + watermark_path);
  }
  std::string data;
  char buffer[65536];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), file)) > 0;) data.append(buffer, n);
  std::fclose(file);
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
  if (!watermark_data.empty()) {
    const ImageFormat format = SniffFormat(watermark_data);
    if (format == ImageFormat::kUnknown || format == ImageFormat::kSvg ||
        !CanDecode(watermark_data)) {
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
  DeadlineState deadline;
  deadline.deadline = Clock::now() + limits.timeout;
  try {
    return Run(source, nullptr, spec, limits, deadline);
  } catch (const vips::VError&) {
    vips_error_clear();
    if (deadline.expired) return Fail(ErrorCode::kDeadlineExceeded, TimeoutMessage(limits));
    return Fail(ErrorCode::kInvalidImage, "source image could not be processed");
  }
}

common::Result<EncodedImage> ProcessFile(const std::string& path, const TransformSpec& spec,
                                         const PipelineLimits& limits) {
  std::ifstream in(path, std::ios::binary);
  std::string head(64 * 1024, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  if (in.bad()) return Fail(ErrorCode::kInternal, "source file could not be read");
  head.resize(static_cast<size_t>(in.gcount()));
  // raw and skip_processing answer with the source bytes themselves, and the SVG check reads the
  // whole document: those need the file in memory anyway.
  const ImageFormat format = SniffFormat(head);
  if (spec.raw || format == ImageFormat::kSvg ||
      std::find(spec.skip_processing.begin(), spec.skip_processing.end(), format) !=
          spec.skip_processing.end()) {
    in.clear();
    in.seekg(0);
    std::string whole((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return Process(whole, spec, limits);
  }
  DeadlineState deadline;
  deadline.deadline = Clock::now() + limits.timeout;
  try {
    return Run(head, path.c_str(), spec, limits, deadline);
  } catch (const vips::VError&) {
    vips_error_clear();
    if (deadline.expired) return Fail(ErrorCode::kDeadlineExceeded, TimeoutMessage(limits));
    return Fail(ErrorCode::kInvalidImage, "source image could not be processed");
  }
}

}  // namespace imgorigin::transforms
