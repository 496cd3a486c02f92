#include "transforms/geometry.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

namespace imgorigin::transforms {
namespace {

int CropSize(int full, double requested) {
  if (requested <= 0) return full;
  const int size = requested >= 1 ? static_cast<int>(std::min<double>(requested, full))
                                   : std::max(1, Round(full * requested));
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

}  // namespace

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
  // In 64 bits, then saturated: each term is at most kMaxPlanSize, their sum may not fit an int.
  p.final_w = Round(static_cast<double>(int64_t{p.aspect_w} + p.pad_left + p.pad_right));
  p.final_h = Round(static_cast<double>(int64_t{p.aspect_h} + p.pad_top + p.pad_bottom));
  return p;
}

}  // namespace imgorigin::transforms
