// The pipeline's geometry, worked out from the source header alone (internal to transforms/).
//
// imgproxy's prepare/calcScale/calcPosition, in the output's orientation: every size the steps
// will produce is known before a pixel is decoded, so the result-size limit is checked up front
// and the loader can shrink on load. Pure functions over values; any thread.
#pragma once

#include <cmath>
#include <utility>

#include "transforms/spec.h"

namespace imgorigin::transforms {

// Sizes and offsets saturate here instead of overflowing: far beyond any limit, so a saturated
// size still fails the result-size check, and small enough that a few of them add up in an int.
inline constexpr int kMaxPlanSize = 1 << 28;

inline int Round(double v) {
  if (!(v > -kMaxPlanSize)) return std::isnan(v) ? 0 : -kMaxPlanSize;
  if (!(v < kMaxPlanSize)) return kMaxPlanSize;
  return static_cast<int>(std::lround(v));
}

struct Scale {
  double x = 1;
  double y = 1;
};

// Every size the pipeline will produce.
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

// `rotate` is spec.rotate normalised to 0/90/180/270. Vector sources may always be enlarged.
Plan MakePlan(int src_w, int src_h, int orientation, int rotate, const TransformSpec& spec,
              bool vector_source);

// Top-left of an inner box placed in an outer box by `gravity`, clamped inside the outer box. Pixel
// offsets (|v| >= 1) are multiplied by px_x/px_y; fractional ones are of the outer box.
std::pair<int, int> Position(int outer_w, int outer_h, int inner_w, int inner_h, const Gravity& g,
                             double px_x, double px_y);

}  // namespace imgorigin::transforms
