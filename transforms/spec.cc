#include "transforms/spec.h"

#include <charconv>
#include <cstdio>
#include <string_view>
#include <utility>

namespace imgorigin::transforms {
namespace {

std::string_view ResizingTypeName(ResizingType type) {
  switch (type) {
    case ResizingType::kFit: return "fit";
    case ResizingType::kFill: return "fill";
    case ResizingType::kFillDown: return "fill-down";
    case ResizingType::kForce: return "force";
    case ResizingType::kAuto: return "auto";
  }
  return "fit";
}

std::string_view GravityTypeName(GravityType type) {
  switch (type) {
    case GravityType::kCenter: return "ce";
    case GravityType::kNorth: return "no";
    case GravityType::kSouth: return "so";
    case GravityType::kEast: return "ea";
    case GravityType::kWest: return "we";
    case GravityType::kNorthEast: return "noea";
    case GravityType::kNorthWest: return "nowe";
    case GravityType::kSouthEast: return "soea";
    case GravityType::kSouthWest: return "sowe";
    case GravityType::kSmart: return "sm";
    case GravityType::kFocusPoint: return "fp";
  }
  return "ce";
}

// Shortest text that reads back as the same double, so distinct values never share a key and
// equal values always do ("1.5", "0.1", "300"). -0 and 0 are the same image, so both print "0".
void AppendNumber(std::string& out, double value) {
  if (value == 0) {
    out += '0';
    return;
  }
  char buf[32];
  const auto result = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, result.ptr);
}

void AppendNumber(std::string& out, int value) {
  char buf[16];
  const auto result = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, result.ptr);
}

void AppendBool(std::string& out, bool value) { out += value ? '1' : '0'; }

void AppendHex(std::string& out, const Rgb& colour) {
  char hex[8];
  std::snprintf(hex, sizeof(hex), "%02x%02x%02x", colour.r, colour.g, colour.b);
  out += hex;
}

// "no", "no:10:-5", "sm", "fp:0.5:0.25". Compass offsets are left out when both are zero because
// "g:no" and "g:no:0:0" are the same request; a focus point always has both coordinates.
void AppendGravity(std::string& out, const Gravity& gravity) {
  out += GravityTypeName(gravity.type);
  if (gravity.type == GravityType::kSmart) return;
  if (gravity.type != GravityType::kFocusPoint && gravity.x == 0 && gravity.y == 0) return;
  out += ':';
  AppendNumber(out, gravity.x);
  out += ':';
  AppendNumber(out, gravity.y);
}

// Builds "a/b/c" from segments appended in a fixed order.
class SegmentWriter {
 public:
  std::string& Begin() {
    if (!out_.empty()) out_ += '/';
    return out_;
  }
  std::string Take() && { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

int TransformSpec::QualityFor(ImageFormat out) const {
  const auto it = format_quality.find(out);
  return it != format_quality.end() ? it->second : quality;
}

std::string TransformSpec::Canonical() const {
  // The source is served byte for byte: no other option changes the result.
  if (raw) return "raw:1";
  const TransformSpec defaults;
  SegmentWriter writer;

  // One "rs" segment stands for resizing_type, width, height and enlarge, however the URL spelled
  // them (rs, s, rt, w, h, el), so the meta-option and the separate options fold together.
  if (resizing_type != defaults.resizing_type || width != defaults.width ||
      height != defaults.height || enlarge != defaults.enlarge) {
    std::string& out = writer.Begin();
    out += "rs:";
    out += ResizingTypeName(resizing_type);
    out += ':';
    AppendNumber(out, width);
    out += ':';
    AppendNumber(out, height);
    out += ':';
    AppendBool(out, enlarge);
  }
  if (min_width != 0) {
    std::string& out = writer.Begin();
    out += "mw:";
    AppendNumber(out, min_width);
  }
  if (min_height != 0) {
    std::string& out = writer.Begin();
    out += "mh:";
    AppendNumber(out, min_height);
  }
  if (zoom_x != defaults.zoom_x || zoom_y != defaults.zoom_y) {
    std::string& out = writer.Begin();
    out += "z:";
    AppendNumber(out, zoom_x);
    out += ':';
    AppendNumber(out, zoom_y);
  }
  if (dpr != defaults.dpr) {
    std::string& out = writer.Begin();
    out += "dpr:";
    AppendNumber(out, dpr);
  }
  // Without extend its gravity has nothing to place, so it is not part of the key.
  if (extend) {
    std::string& out = writer.Begin();
    out += "ex:1";
    if (extend_gravity != Gravity{}) {
      out += ':';
      AppendGravity(out, extend_gravity);
    }
  }
  if (extend_aspect_ratio) {
    std::string& out = writer.Begin();
    out += "exar:1";
    if (extend_aspect_ratio_gravity != Gravity{}) {
      out += ':';
      AppendGravity(out, extend_aspect_ratio_gravity);
    }
  }
  if (gravity != defaults.gravity) {
    std::string& out = writer.Begin();
    out += "g:";
    AppendGravity(out, gravity);
  }
  // A 0×0 crop keeps the full extent whatever its gravity, and a crop gravity equal to the spec's
  // gravity is what an unset one means.
  if (crop && (crop->width != 0 || crop->height != 0)) {
    std::string& out = writer.Begin();
    out += "c:";
    AppendNumber(out, crop->width);
    out += ':';
    AppendNumber(out, crop->height);
    if (crop->gravity && *crop->gravity != gravity) {
      out += ':';
      AppendGravity(out, *crop->gravity);
    }
  }
  if (trim) {
    std::string& out = writer.Begin();
    out += "t:";
    AppendNumber(out, trim->threshold);
    out += ':';
    if (trim->colour) AppendHex(out, *trim->colour);
    out += ':';
    AppendBool(out, trim->equal_horizontal);
    out += ':';
    AppendBool(out, trim->equal_vertical);
  }
  if (padding != Padding{}) {
    std::string& out = writer.Begin();
    out += "pd:";
    AppendNumber(out, padding.top);
    for (const int side : {padding.right, padding.bottom, padding.left}) {
      out += ':';
      AppendNumber(out, side);
    }
  }
  if (rotate != defaults.rotate) {
    std::string& out = writer.Begin();
    out += "rot:";
    AppendNumber(out, rotate);
  }
  if (flip_horizontal || flip_vertical) {
    std::string& out = writer.Begin();
    out += "fl:";
    AppendBool(out, flip_horizontal);
    out += ':';
    AppendBool(out, flip_vertical);
  }
  if (auto_rotate != defaults.auto_rotate) {
    std::string& out = writer.Begin();
    out += "ar:";
    AppendBool(out, auto_rotate);
  }
  if (blur != defaults.blur) {
    std::string& out = writer.Begin();
    out += "bl:";
    AppendNumber(out, blur);
  }
  if (sharpen != defaults.sharpen) {
    std::string& out = writer.Begin();
    out += "sh:";
    AppendNumber(out, sharpen);
  }
  if (pixelate > 1) {
    std::string& out = writer.Begin();
    out += "pix:";
    AppendNumber(out, pixelate);
  }
  if (background) {
    std::string& out = writer.Begin();
    out += "bg:";
    AppendHex(out, *background);
  }
  if (watermark && watermark->opacity > 0) {
    std::string& out = writer.Begin();
    out += "wm:";
    AppendNumber(out, watermark->opacity);
    out += ':';
    // Replicated watermarks cover the image: their position and offsets change nothing, but the
    // offsets keep their (zero) places so that the scale stays the fifth argument on re-parsing.
    if (watermark->replicate) {
      out += "re:0:0";
    } else {
      AppendGravity(out, Gravity{watermark->position.type, 0, 0});
      out += ':';
      AppendNumber(out, watermark->position.x);
      out += ':';
      AppendNumber(out, watermark->position.y);
    }
    out += ':';
    AppendNumber(out, watermark->scale);
  }
  // With the output format known, q and fq fold into the one quality the encoder will use, so
  // "q:70/fq:webp:70/f:webp" and "q:70/f:webp" share a key.
  if (format != ImageFormat::kUnknown) {
    if (const int q = QualityFor(format); q != 0) {
      std::string& out = writer.Begin();
      out += "q:";
      AppendNumber(out, q);
    }
  } else {
    if (quality != defaults.quality) {
      std::string& out = writer.Begin();
      out += "q:";
      AppendNumber(out, quality);
    }
    if (!format_quality.empty()) {
      std::string& out = writer.Begin();
      out += "fq";
      for (const auto& [fq_format, fq_quality] : format_quality) {
        out += ':';
        out += FormatExtension(fq_format);
        out += ':';
        AppendNumber(out, fq_quality);
      }
    }
  }
  if (max_bytes > 0) {
    char buf[24];
    const auto result = std::to_chars(buf, buf + sizeof(buf), max_bytes);
    std::string& out = writer.Begin();
    out += "mb:";
    out.append(buf, result.ptr);
  }
  if (strip_metadata != defaults.strip_metadata) {
    std::string& out = writer.Begin();
    out += "sm:";
    AppendBool(out, strip_metadata);
  }
  // Without stripping, everything is kept anyway.
  if (strip_metadata && keep_copyright != defaults.keep_copyright) {
    std::string& out = writer.Begin();
    out += "kcr:";
    AppendBool(out, keep_copyright);
  }
  if (strip_color_profile != defaults.strip_color_profile) {
    std::string& out = writer.Begin();
    out += "scp:";
    AppendBool(out, strip_color_profile);
  }
  if (enforce_thumbnail != defaults.enforce_thumbnail) {
    std::string& out = writer.Begin();
    out += "eth:";
    AppendBool(out, enforce_thumbnail);
  }
  if (!skip_processing.empty()) {
    std::string& out = writer.Begin();
    out += "skp";
    for (const ImageFormat skipped : skip_processing) {
      out += ':';
      out += FormatExtension(skipped);
    }
  }
  // A negotiated format is part of the cache key on its own; naming it here as well would make a
  // negotiated WebP and an explicit f:webp (which differ for animated sources) share a key.
  if (format != defaults.format && !auto_format) {
    std::string& out = writer.Begin();
    out += "f:";
    out += FormatExtension(format);
  }
  return std::move(writer).Take();
}

}  // namespace imgorigin::transforms
