// Steps that run on every frame: from the decoded source to the output canvas. Sizes come from
// the plan, so each step only moves one frame towards it.
#include <algorithm>
#include <cmath>
#include <string>

#include "transforms/steps.h"

namespace imgorigin::transforms {
namespace {

using common::Result;
using vips::VImage;

template <typename Op>
Result<void> EachFrame(Context& ctx, Op op) {
  for (VImage& frame : ctx.frames) frame = op(frame);
  return {};
}

bool SupportsAlpha(ImageFormat format) { return format != ImageFormat::kJpeg; }

// Runs `op` on premultiplied pixels when there is alpha, so that transparent pixels' colour does
// not bleed into their neighbours.
template <typename Op>
VImage Premultiplied(const VImage& img, Op op) {
  if (!img.has_alpha()) return op(img);
  return op(img.premultiply()).unpremultiply().cast(VIPS_FORMAT_UCHAR);
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

// pixelate: averages size×size blocks (anchored at the top-left) and scales them back up. A block
// larger than the image would only add copied edge pixels to pad it: one block covers it all.
VImage Pixelate(const VImage& img, int requested) {
  const int w = img.width();
  const int h = img.height();
  const int size = std::min(requested, std::max(w, h));
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
VImage Overlay(const VImage& img, const Watermark& spec, const std::string& data, double dpr) {
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

}  // namespace

Result<void> RotateAndFlip(Context& ctx) {
  const TransformSpec& spec = ctx.spec;
  return EachFrame(ctx, [&](VImage img) {
    if (spec.auto_rotate) img = img.autorot();
    switch (ctx.rotate) {
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
  });
}

Result<void> CropSource(Context& ctx) {
  const Plan& plan = ctx.plan;
  if (!plan.has_crop) return {};
  const Gravity& gravity = ctx.spec.crop->gravity ? *ctx.spec.crop->gravity : ctx.spec.gravity;
  return EachFrame(ctx, [&](const VImage& img) {
    // The plan is in source pixels; shrink-on-load may have decoded fewer.
    const double pre_x = static_cast<double>(plan.oriented_w) / img.width();
    const double pre_y = static_cast<double>(plan.oriented_h) / img.height();
    const int w = std::clamp(Round(plan.crop_w / pre_x), 1, img.width());
    const int h = std::clamp(Round(plan.crop_h / pre_y), 1, img.height());
    if (gravity.type == GravityType::kSmart) return SmartCrop(img, w, h);
    const auto [left, top] =
        Position(img.width(), img.height(), w, h, gravity, 1 / pre_x, 1 / pre_y);
    return img.extract_area(left, top, w, h);
  });
}

Result<void> Resize(Context& ctx) {
  const Plan& plan = ctx.plan;
  return EachFrame(ctx, [&](const VImage& img) {
    if (img.width() == plan.resized_w && img.height() == plan.resized_h) return img;
    const double hscale = static_cast<double>(plan.resized_w) / img.width();
    const double vscale = static_cast<double>(plan.resized_h) / img.height();
    return Premultiplied(img, [&](const VImage& in) {
      return in.resize(hscale, VImage::option()->set("vscale", vscale));
    });
  });
}

Result<void> CropToResult(Context& ctx) {
  const Plan& plan = ctx.plan;
  const TransformSpec& spec = ctx.spec;
  return EachFrame(ctx, [&](const VImage& img) {
    if (img.width() <= plan.result_w && img.height() <= plan.result_h) return img;
    const int w = std::min(plan.result_w, img.width());
    const int h = std::min(plan.result_h, img.height());
    if (spec.gravity.type == GravityType::kSmart) return SmartCrop(img, w, h);
    const auto [left, top] =
        Position(img.width(), img.height(), w, h, spec.gravity, spec.dpr, spec.dpr);
    return img.extract_area(left, top, w, h);
  });
}

Result<void> ApplyEffects(Context& ctx) {
  const TransformSpec& spec = ctx.spec;
  const int pixel_size = Round(spec.pixelate * spec.dpr);
  return EachFrame(ctx, [&](VImage img) {
    if (spec.blur > 0) {
      img = Premultiplied(img, [&](const VImage& in) { return in.gaussblur(spec.blur); });
    }
    if (spec.sharpen > 0) img = img.sharpen(VImage::option()->set("sigma", spec.sharpen));
    if (pixel_size > 1) img = Pixelate(img, pixel_size);
    return img;
  });
}

Result<void> Extend(Context& ctx) {
  const Plan& plan = ctx.plan;
  const TransformSpec& spec = ctx.spec;
  return EachFrame(ctx, [&](const VImage& img) {
    if (img.width() >= plan.canvas_w && img.height() >= plan.canvas_h) return img;
    const auto [left, top] = Position(plan.canvas_w, plan.canvas_h, img.width(), img.height(),
                                      spec.extend_gravity, spec.dpr, spec.dpr);
    return Embed(img, left, top, plan.canvas_w, plan.canvas_h, spec);
  });
}

Result<void> ExtendAspectRatio(Context& ctx) {
  const Plan& plan = ctx.plan;
  const TransformSpec& spec = ctx.spec;
  return EachFrame(ctx, [&](const VImage& img) {
    if (img.width() >= plan.aspect_w && img.height() >= plan.aspect_h) return img;
    const auto [left, top] = Position(plan.aspect_w, plan.aspect_h, img.width(), img.height(),
                                      spec.extend_aspect_ratio_gravity, spec.dpr, spec.dpr);
    return Embed(img, left, top, plan.aspect_w, plan.aspect_h, spec);
  });
}

Result<void> Pad(Context& ctx) {
  const Plan& plan = ctx.plan;
  return EachFrame(ctx, [&](const VImage& img) {
    if (img.width() == plan.final_w && img.height() == plan.final_h) return img;
    return Embed(img, plan.pad_left, plan.pad_top, plan.final_w, plan.final_h, ctx.spec);
  });
}

Result<void> FlattenBackground(Context& ctx) {
  const TransformSpec& spec = ctx.spec;
  if (!spec.background && SupportsAlpha(ctx.out_format)) return {};
  return EachFrame(ctx, [&](const VImage& img) {
    if (!img.has_alpha()) return img;
    return img.flatten(
        VImage::option()->set("background", Colour(spec.background.value_or(Rgb{}), false, 0)));
  });
}

Result<void> ApplyWatermark(Context& ctx) {
  const TransformSpec& spec = ctx.spec;
  if (!spec.watermark || !(spec.watermark->opacity > 0)) return {};
  return EachFrame(ctx, [&](const VImage& img) {
    return Overlay(img, *spec.watermark, ctx.limits.watermark_data, spec.dpr);
  });
}

}  // namespace imgorigin::transforms
