#include "transforms/parser.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "signing/base64url.h"

namespace imgorigin::transforms {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

using Args = std::span<const std::string_view>;
// Handlers report what is wrong with an argument; the dispatcher prefixes the option's name, so
// the same checks read well whether reached through "w:" or through "rs:".
using ArgResult = std::expected<void, std::string>;

constexpr char kArgumentSeparator = ':';
constexpr size_t kUnlimited = std::numeric_limits<size_t>::max();
constexpr double kMaxDpr = 8;
// Sigmas past these change nothing a person can see, while libvips builds masks that grow with
// them (gaussblur refuses one wider than 10 000 taps, sigma ≈ 2 800) and spends time accordingly.
constexpr double kMaxBlurSigma = 250;
constexpr double kMaxSharpenSigma = 20;
constexpr size_t kMaxQuotedArgument = 64;

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    const size_t pos = text.find(separator);
    parts.push_back(text.substr(0, pos));
    if (pos == std::string_view::npos) return parts;
    text.remove_prefix(pos + 1);
  }
}

// Arguments are echoed back to the person who wrote the URL: keep them short and printable.
std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kMaxQuotedArgument; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out += (c < 0x20 || c >= 0x7F || c == '"') ? '?' : static_cast<char>(c);
  }
  if (text.size() > kMaxQuotedArgument) out += "...";
  out += '"';
  return out;
}

// "width must be a non-negative integer, got \"abc\"" (or without the field for single-value
// options, whose name the dispatcher already adds).
std::unexpected<std::string> Expected(std::string_view field, std::string_view what,
                                      std::string_view arg) {
  std::string message(field);
  if (!message.empty()) message += ' ';
  message += "must be ";
  message += what;
  message += ", got ";
  message += Quote(arg);
  return std::unexpected(std::move(message));
}

std::string Join(std::string_view field, std::string_view sub) {
  if (field.empty()) return std::string(sub);
  std::string out(field);
  out += ' ';
  out += sub;
  return out;
}

// Go's strconv accepts a leading "+", which URL builders occasionally emit; std::from_chars
// does not.
std::string_view StripPlus(std::string_view text) {
  if (text.size() > 1 && text[0] == '+') text.remove_prefix(1);
  return text;
}

std::optional<int64_t> ToInt(std::string_view text) {
  text = StripPlus(text);
  int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<double> ToDouble(std::string_view text) {
  text = StripPlus(text);
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() ||
      !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

// Go's strconv.ParseBool spellings, which is what imgproxy accepts.
std::optional<bool> ToBool(std::string_view text) {
  for (std::string_view yes : {"1", "t", "T", "true", "TRUE", "True"}) {
    if (text == yes) return true;
  }
  for (std::string_view no : {"0", "f", "F", "false", "FALSE", "False"}) {
    if (text == no) return false;
  }
  return std::nullopt;
}

ArgResult SetDimension(int& out, std::string_view field, std::string_view arg) {
  const auto value = ToInt(arg);
  if (!value || *value < 0 || *value > std::numeric_limits<int>::max()) {
    return Expected(field, "a non-negative integer", arg);
  }
  out = static_cast<int>(*value);
  return {};
}

// imgproxy reads an empty boolean as false rather than rejecting it; anything else that is not a
// boolean is rejected here (imgproxy logs it and reads false, which hides typos).
ArgResult SetBool(bool& out, std::string_view field, std::string_view arg) {
  if (arg.empty()) {
    out = false;
    return {};
  }
  const auto value = ToBool(arg);
  if (!value) return Expected(field, "a boolean (1/t/true or 0/f/false)", arg);
  out = *value;
  return {};
}

ArgResult SetNonNegative(double& out, std::string_view field, std::string_view arg) {
  const auto value = ToDouble(arg);
  if (!value || *value < 0) return Expected(field, "a non-negative number", arg);
  out = *value == 0 ? 0 : *value;  // folds -0
  return {};
}

struct ResizingTypeName {
  std::string_view name;
  ResizingType type;
};
constexpr std::array kResizingTypes = {
    ResizingTypeName{"fit", ResizingType::kFit},
    ResizingTypeName{"fill", ResizingType::kFill},
    ResizingTypeName{"fill-down", ResizingType::kFillDown},
    ResizingTypeName{"force", ResizingType::kForce},
    ResizingTypeName{"auto", ResizingType::kAuto},
};

std::optional<ResizingType> FindResizingType(std::string_view name) {
  for (const auto& entry : kResizingTypes) {
    if (entry.name == name) return entry.type;
  }
  return std::nullopt;
}

struct GravityTypeName {
  std::string_view name;
  GravityType type;
};
constexpr std::array kGravityTypes = {
    GravityTypeName{"ce", GravityType::kCenter},
    GravityTypeName{"no", GravityType::kNorth},
    GravityTypeName{"so", GravityType::kSouth},
    GravityTypeName{"ea", GravityType::kEast},
    GravityTypeName{"we", GravityType::kWest},
    GravityTypeName{"noea", GravityType::kNorthEast},
    GravityTypeName{"nowe", GravityType::kNorthWest},
    GravityTypeName{"soea", GravityType::kSouthEast},
    GravityTypeName{"sowe", GravityType::kSouthWest},
    GravityTypeName{"sm", GravityType::kSmart},
    GravityTypeName{"fp", GravityType::kFocusPoint},
};

// Like imgproxy, arguments that are not given leave the gravity's current values in place (so a
// URL can refine a preset); smart gravity has no offsets and clears them.
ArgResult SetGravity(Gravity& gravity, std::string_view field, Args args, bool allow_smart) {
  const GravityTypeName* found = nullptr;
  for (const auto& entry : kGravityTypes) {
    if (entry.name == args[0]) found = &entry;
  }
  if (found == nullptr || (!allow_smart && found->type == GravityType::kSmart)) {
    return Expected(Join(field, "type"),
                    allow_smart ? "one of ce, no, so, ea, we, noea, nowe, soea, sowe, sm, fp"
                                : "one of ce, no, so, ea, we, noea, nowe, soea, sowe, fp",
                    args[0]);
  }
  const GravityType type = found->type;
  if (args.size() > 3) {
    return std::unexpected(Join(field, "takes at most a type and two offsets"));
  }
  if (type == GravityType::kSmart) {
    if (args.size() > 1) return std::unexpected(Join(field, "\"sm\" takes no offsets"));
    gravity = Gravity{.type = type};
    return {};
  }
  const bool focus_point = type == GravityType::kFocusPoint;
  if (focus_point && (args.size() != 3 || args[1].empty() || args[2].empty())) {
    return std::unexpected(Join(field, "\"fp\" needs x and y, e.g. fp:0.5:0.3"));
  }
  Gravity result = gravity;
  result.type = type;
  const std::string_view axis_names[] = {"x", "y"};
  double* axes[] = {&result.x, &result.y};
  for (size_t i = 0; i < 2 && i + 1 < args.size(); ++i) {
    const std::string_view arg = args[i + 1];
    // An empty offset keeps its value: imgproxy-js-core writes "no::10" for a y-only offset.
    if (arg.empty()) continue;
    const auto value = ToDouble(arg);
    if (focus_point) {
      if (!value || *value < 0 || *value > 1) {
        return Expected(Join(field, axis_names[i]), "a number in [0, 1]", arg);
      }
    } else if (!value) {
      return Expected(Join(field, Join(axis_names[i], "offset")), "a number", arg);
    }
    *axes[i] = *value == 0 ? 0 : *value;
  }
  gravity = result;
  return {};
}

struct ParseState {
  const ParserConfig& config;
  ImageRequest request;
  std::vector<std::string_view> preset_stack;  // presets being expanded, to stop recursion
};

ArgResult ApplyOptionList(ParseState& state, std::string_view options);

ArgResult ApplyWidth(ParseState& state, Args args) {
  return SetDimension(state.request.spec.width, "", args[0]);
}

ArgResult ApplyHeight(ParseState& state, Args args) {
  return SetDimension(state.request.spec.height, "", args[0]);
}

ArgResult ApplyResizingType(ParseState& state, Args args) {
  const auto type = FindResizingType(args[0]);
  if (!type) return Expected("", "one of fit, fill, fill-down, force, auto", args[0]);
  state.request.spec.resizing_type = *type;
  return {};
}

ArgResult ApplyEnlarge(ParseState& state, Args args) {
  return SetBool(state.request.spec.enlarge, "", args[0]);
}

ArgResult SetExtend(ParseState& state, std::string_view field, Args args) {
  TransformSpec& spec = state.request.spec;
  if (auto result = SetBool(spec.extend, field, args[0]); !result) return result;
  if (args.size() > 1) {
    return SetGravity(spec.extend_gravity, Join(field, "gravity"), args.subspan(1), false);
  }
  return {};
}

ArgResult ApplyExtend(ParseState& state, Args args) { return SetExtend(state, "", args); }

// size:%width:%height:%enlarge:%extend:… — empty arguments leave their field alone.
ArgResult ApplySize(ParseState& state, Args args) {
  TransformSpec& spec = state.request.spec;
  if (!args.empty() && !args[0].empty()) {
    if (auto result = SetDimension(spec.width, "width", args[0]); !result) return result;
  }
  if (args.size() > 1 && !args[1].empty()) {
    if (auto result = SetDimension(spec.height, "height", args[1]); !result) return result;
  }
  if (args.size() > 2 && !args[2].empty()) {
    if (auto result = SetBool(spec.enlarge, "enlarge", args[2]); !result) return result;
  }
  if (args.size() > 3 && !args[3].empty()) return SetExtend(state, "extend", args.subspan(3));
  return {};
}

ArgResult ApplyResize(ParseState& state, Args args) {
  if (!args[0].empty()) {
    const auto type = FindResizingType(args[0]);
    if (!type) return Expected("type", "one of fit, fill, fill-down, force, auto", args[0]);
    state.request.spec.resizing_type = *type;
  }
  return args.size() > 1 ? ApplySize(state, args.subspan(1)) : ArgResult();
}

ArgResult ApplyDpr(ParseState& state, Args args) {
  const auto value = ToDouble(args[0]);
  if (!value || *value <= 0 || *value > kMaxDpr) return Expected("", "a number in (0, 8]", args[0]);
  state.request.spec.dpr = *value;
  return {};
}

ArgResult ApplyGravity(ParseState& state, Args args) {
  return SetGravity(state.request.spec.gravity, "", args, true);
}

ArgResult ApplyCrop(ParseState& state, Args args) {
  Crop crop = state.request.spec.crop.value_or(Crop{});
  if (auto result = SetNonNegative(crop.width, "width", args[0]); !result) return result;
  if (args.size() > 1) {
    if (auto result = SetNonNegative(crop.height, "height", args[1]); !result) return result;
  }
  if (args.size() > 2) {
    Gravity gravity = crop.gravity.value_or(Gravity{});
    if (auto result = SetGravity(gravity, "gravity", args.subspan(2), true); !result) {
      return result;
    }
    crop.gravity = gravity;
  }
  state.request.spec.crop = crop;
  return {};
}

ArgResult ApplyRotate(ParseState& state, Args args) {
  const auto value = ToInt(args[0]);
  if (!value || *value % 90 != 0) return Expected("", "a multiple of 90", args[0]);
  // imgproxy accepts any multiple of 90; 360 and -90 are the same turns as 0 and 270.
  state.request.spec.rotate = static_cast<int>((*value % 360 + 360) % 360);
  return {};
}

ArgResult ApplyFlip(ParseState& state, Args args) {
  TransformSpec& spec = state.request.spec;
  if (!args[0].empty()) {
    if (auto result = SetBool(spec.flip_horizontal, "horizontal", args[0]); !result) {
      return result;
    }
  }
  if (args.size() > 1 && !args[1].empty()) {
    return SetBool(spec.flip_vertical, "vertical", args[1]);
  }
  return {};
}

ArgResult ApplyAutoRotate(ParseState& state, Args args) {
  return SetBool(state.request.spec.auto_rotate, "", args[0]);
}

ArgResult SetSigma(double& out, double max, std::string_view arg) {
  const auto value = ToDouble(arg);
  if (!value || *value < 0 || *value > max) {
    char limit[32];
    const auto end = std::to_chars(limit, limit + sizeof(limit), max).ptr;
    return Expected("", "a number in [0, " + std::string(limit, end) + "]", arg);
  }
  out = *value == 0 ? 0 : *value;  // folds -0
  return {};
}

ArgResult ApplyBlur(ParseState& state, Args args) {
  return SetSigma(state.request.spec.blur, kMaxBlurSigma, args[0]);
}

ArgResult ApplySharpen(ParseState& state, Args args) {
  return SetSigma(state.request.spec.sharpen, kMaxSharpenSigma, args[0]);
}

std::optional<Rgb> HexColor(std::string_view hex) {
  if (hex.size() != 3 && hex.size() != 6) return std::nullopt;
  uint8_t channels[3];
  const size_t width = hex.size() / 3;
  for (size_t i = 0; i < 3; ++i) {
    const std::string_view digits = hex.substr(i * width, width);
    unsigned value = 0;
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + width, value, 16);
    if (ec != std::errc() || ptr != digits.data() + width) return std::nullopt;
    channels[i] = static_cast<uint8_t>(width == 1 ? value * 17 : value);  // "f" means "ff"
  }
  return Rgb{channels[0], channels[1], channels[2]};
}

ArgResult ApplyBackground(ParseState& state, Args args) {
  std::optional<Rgb>& background = state.request.spec.background;
  if (args.size() == 1) {
    if (args[0].empty()) {
      background.reset();
      return {};
    }
    const auto color = HexColor(args[0]);
    if (!color) return Expected("", "a hex colour (RRGGBB or RGB) or R:G:B", args[0]);
    background = *color;
    return {};
  }
  if (args.size() != 3) return std::unexpected("expects R:G:B, a hex colour, or nothing to reset");
  uint8_t channels[3];
  const std::string_view names[] = {"red", "green", "blue"};
  for (size_t i = 0; i < 3; ++i) {
    const auto value = ToInt(args[i]);
    if (!value || *value < 0 || *value > 255) {
      return Expected(names[i], "an integer in [0, 255]", args[i]);
    }
    channels[i] = static_cast<uint8_t>(*value);
  }
  background = Rgb{channels[0], channels[1], channels[2]};
  return {};
}

ArgResult ApplyQuality(ParseState& state, Args args) {
  const auto value = ToInt(args[0]);
  if (!value || *value < 0 || *value > 100) {
    return Expected("", "an integer in [0, 100]", args[0]);
  }
  state.request.spec.quality = static_cast<int>(*value);
  return {};
}

ArgResult ApplyStripMetadata(ParseState& state, Args args) {
  return SetBool(state.request.spec.strip_metadata, "", args[0]);
}

constexpr std::string_view kFormatList =
    "one of jpg, jpeg, png, webp, avif, gif, tiff, heic, svg, "
    "jxl, bmp, ico";

ArgResult ApplyFormat(ParseState& state, Args args) {
  const auto format = FormatFromExtension(args[0]);
  if (!format) return Expected("", kFormatList, args[0]);
  state.request.spec.format = *format;
  return {};
}

ArgResult ApplyPreset(ParseState& state, Args args) {
  for (const std::string_view name : args) {
    const auto it = state.config.presets.find(std::string(name));
    if (it == state.config.presets.end()) {
      return std::unexpected("unknown preset " + Quote(name));
    }
    // A preset that names itself, directly or through others, is expanded once (as imgproxy).
    if (std::find(state.preset_stack.begin(), state.preset_stack.end(), name) !=
        state.preset_stack.end()) {
      continue;
    }
    state.preset_stack.push_back(name);
    auto result = ApplyOptionList(state, it->second);
    state.preset_stack.pop_back();
    if (!result) return std::unexpected(Quote(name) + " is invalid: " + result.error());
  }
  return {};
}

ArgResult ApplyExpires(ParseState& state, Args args) {
  const auto value = ToInt(args[0]);
  if (!value) return Expected("", "a unix timestamp", args[0]);
  // imgproxy treats 0 (and below) as "never expires".
  state.request.expires = *value > 0 ? std::optional<int64_t>(*value) : std::nullopt;
  return {};
}

// imgproxy trims any "=" before decoding, so padded and unpadded encodings both work.
std::optional<std::string> DecodeBase64Url(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  return signing::Base64UrlDecode(text);
}

std::optional<std::string> PercentDecode(std::string_view text);

ArgResult ApplyFilename(ParseState& state, Args args) {
  bool encoded = false;
  if (args.size() > 1) {
    if (auto result = SetBool(encoded, "encoded flag", args[1]); !result) return result;
  }
  // Not base64: the name is written into the URL path, so it arrives percent-escaped.
  auto decoded = encoded ? DecodeBase64Url(args[0]) : PercentDecode(args[0]);
  if (!decoded) {
    return Expected("", encoded ? "base64url when the encoded flag is set" : "percent-escaped",
                    args[0]);
  }
  std::string name = *std::move(decoded);
  // The name ends up in a Content-Disposition header: a control character would split it.
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) return Expected("", "free of control characters", name);
  }
  state.request.filename = std::move(name);
  return {};
}

ArgResult ApplyAttachment(ParseState& state, Args args) {
  return SetBool(state.request.attachment, "", args[0]);
}

ArgResult ApplyCachebuster(ParseState& state, Args args) {
  state.request.cachebuster = std::string(args[0]);
  return {};
}

ArgResult ApplyMinWidth(ParseState& state, Args args) {
  return SetDimension(state.request.spec.min_width, "", args[0]);
}

ArgResult ApplyMinHeight(ParseState& state, Args args) {
  return SetDimension(state.request.spec.min_height, "", args[0]);
}

ArgResult SetPositive(double& out, std::string_view field, std::string_view arg) {
  const auto value = ToDouble(arg);
  if (!value || *value <= 0) return Expected(field, "a positive number", arg);
  out = *value;
  return {};
}

// zoom:%x[:%y] — one argument zooms both axes.
ArgResult ApplyZoom(ParseState& state, Args args) {
  TransformSpec& spec = state.request.spec;
  if (auto result = SetPositive(spec.zoom_x, args.size() > 1 ? "x" : "", args[0]); !result) {
    return result;
  }
  if (args.size() < 2) {
    spec.zoom_y = spec.zoom_x;
    return {};
  }
  return SetPositive(spec.zoom_y, "y", args[1]);
}

ArgResult ApplyExtendAspectRatio(ParseState& state, Args args) {
  TransformSpec& spec = state.request.spec;
  if (auto result = SetBool(spec.extend_aspect_ratio, "", args[0]); !result) return result;
  if (args.size() > 1) {
    return SetGravity(spec.extend_aspect_ratio_gravity, "gravity", args.subspan(1), false);
  }
  return {};
}

// trim:%threshold:%colour:%equal_hor:%equal_ver. As in imgproxy, an empty threshold or colour
// resets it to its default (the top-left pixel's colour for an unset one).
ArgResult ApplyTrim(ParseState& state, Args args) {
  Trim trim = state.request.spec.trim.value_or(Trim{});
  if (args[0].empty()) {
    trim.threshold = Trim{}.threshold;
  } else if (auto result = SetNonNegative(trim.threshold, "threshold", args[0]); !result) {
    return result;
  }
  trim.colour.reset();
  if (args.size() > 1 && !args[1].empty()) {
    const auto colour = HexColor(args[1]);
    if (!colour) return Expected("colour", "a hex colour (rgb or rrggbb)", args[1]);
    trim.colour = colour;
  }
  if (args.size() > 2 && !args[2].empty()) {
    if (auto result = SetBool(trim.equal_horizontal, "equal_hor", args[2]); !result) return result;
  }
  if (args.size() > 3 && !args[3].empty()) {
    if (auto result = SetBool(trim.equal_vertical, "equal_ver", args[3]); !result) return result;
  }
  state.request.spec.trim = trim;
  return {};
}

// padding:%top:%right:%bottom:%left with CSS's shorthand: a missing right copies top, a missing
// bottom copies top and a missing left copies right (imgproxy's rule).
ArgResult ApplyPadding(ParseState& state, Args args) {
  Padding& padding = state.request.spec.padding;
  const std::string_view names[] = {"top", "right", "bottom", "left"};
  int* sides[] = {&padding.top, &padding.right, &padding.bottom, &padding.left};
  for (size_t i = 0; i < 4; ++i) {
    if (i < args.size() && !args[i].empty()) {
      if (auto result = SetDimension(*sides[i], names[i], args[i]); !result) return result;
    } else if (i == 1 || i == 2) {
      *sides[i] = padding.top;
    } else if (i == 3) {
      padding.left = padding.right;
    }
  }
  return {};
}

ArgResult ApplyPixelate(ParseState& state, Args args) {
  return SetDimension(state.request.spec.pixelate, "", args[0]);
}

// watermark:%opacity:%position:%x_offset:%y_offset:%scale. Opacity 0 turns the watermark off.
ArgResult ApplyWatermark(ParseState& state, Args args) {
  const auto opacity = ToDouble(args[0]);
  if (!opacity || *opacity < 0 || *opacity > 1) {
    return Expected("opacity", "a number in [0, 1]", args[0]);
  }
  if (*opacity == 0) {
    state.request.spec.watermark.reset();
    return {};
  }
  if (!state.config.watermark_configured) {
    return std::unexpected(std::string("no watermark configured on this server"));
  }
  Watermark watermark = state.request.spec.watermark.value_or(Watermark{});
  watermark.opacity = *opacity;
  if (args.size() > 1 && !args[1].empty()) {
    if (args[1] == "re") {
      watermark.replicate = true;
    } else {
      watermark.replicate = false;
      const std::string_view position[] = {args[1]};
      if (auto result = SetGravity(watermark.position, "position", position, false);
          !result || watermark.position.type == GravityType::kFocusPoint) {
        return Expected("position", "one of ce, no, so, ea, we, noea, nowe, soea, sowe, re",
                        args[1]);
      }
    }
  }
  if (args.size() > 2 && !args[2].empty()) {
    const auto x = ToDouble(args[2]);
    if (!x) return Expected("x offset", "a number", args[2]);
    watermark.position.x = *x == 0 ? 0 : *x;
  }
  if (args.size() > 3 && !args[3].empty()) {
    const auto y = ToDouble(args[3]);
    if (!y) return Expected("y offset", "a number", args[3]);
    watermark.position.y = *y == 0 ? 0 : *y;
  }
  if (args.size() > 4 && !args[4].empty()) {
    // 0 = natural size, as in imgproxy ("when set to 0 or omitted"); Canonical() writes it.
    if (auto result = SetNonNegative(watermark.scale, "scale", args[4]); !result) return result;
  }
  state.request.spec.watermark = watermark;
  return {};
}

ArgResult ApplyKeepCopyright(ParseState& state, Args args) {
  return SetBool(state.request.spec.keep_copyright, "", args[0]);
}

ArgResult ApplyStripColorProfile(ParseState& state, Args args) {
  return SetBool(state.request.spec.strip_color_profile, "", args[0]);
}

ArgResult ApplyEnforceThumbnail(ParseState& state, Args args) {
  return SetBool(state.request.spec.enforce_thumbnail, "", args[0]);
}

// format_quality:%format:%quality:… pairs; quality 0 removes the format's entry (back to q).
ArgResult ApplyFormatQuality(ParseState& state, Args args) {
  if (args.size() % 2 != 0) {
    return std::unexpected("needs format:quality pairs, " + Quote(args.back()) +
                           " has no quality");
  }
  auto& table = state.request.spec.format_quality;
  for (size_t i = 0; i < args.size(); i += 2) {
    const auto format = FormatFromExtension(args[i]);
    if (!format) return Expected("format", kFormatList, args[i]);
    const auto value = ToInt(args[i + 1]);
    if (!value || *value < 0 || *value > 100) {
      return Expected(Join(std::string(args[i]), "quality"), "an integer in [0, 100]",
                      args[i + 1]);
    }
    if (*value == 0) {
      table.erase(*format);
    } else {
      table[*format] = static_cast<int>(*value);
    }
  }
  return {};
}

ArgResult ApplyMaxBytes(ParseState& state, Args args) {
  const auto value = ToInt(args[0]);
  if (!value || *value < 0) return Expected("", "a non-negative integer", args[0]);
  state.request.spec.max_bytes = *value;
  return {};
}

// skip_processing:%extension:… adds to the list (as imgproxy's AppendToSlice does).
ArgResult ApplySkipProcessing(ParseState& state, Args args) {
  auto& formats = state.request.spec.skip_processing;
  for (const std::string_view arg : args) {
    const auto format = FormatFromExtension(arg);
    if (!format) return Expected("", kFormatList, arg);
    formats.push_back(*format);
  }
  std::sort(formats.begin(), formats.end());
  formats.erase(std::unique(formats.begin(), formats.end()), formats.end());
  return {};
}

ArgResult ApplyRaw(ParseState& state, Args args) {
  return SetBool(state.request.spec.raw, "", args[0]);
}

ArgResult RejectProOption(ParseState&, Args) {
  return std::unexpected(std::string(
      "is not supported (an imgproxy Pro option this server does not implement)"));
}

ArgResult RejectSecurityOption(ParseState&, Args) {
  return std::unexpected(
      std::string("is not allowed in URLs: this limit is set by the server configuration"));
}

using Handler = ArgResult (*)(ParseState&, Args);

struct OptionDef {
  std::array<std::string_view, 4> names;  // long name first; unused slots empty
  size_t max_args;
  Handler apply;
};

// Argument limits are imgproxy's: size/resize carry an extend gravity (type + 2 offsets).
constexpr std::array kOptions = {
    OptionDef{{"resize", "rs"}, 8, ApplyResize},
    OptionDef{{"size", "s"}, 7, ApplySize},
    OptionDef{{"resizing_type", "rt"}, 1, ApplyResizingType},
    OptionDef{{"width", "w"}, 1, ApplyWidth},
    OptionDef{{"height", "h"}, 1, ApplyHeight},
    OptionDef{{"dpr"}, 1, ApplyDpr},
    OptionDef{{"enlarge", "el"}, 1, ApplyEnlarge},
    OptionDef{{"extend", "ex"}, 4, ApplyExtend},
    OptionDef{{"gravity", "g"}, 3, ApplyGravity},
    OptionDef{{"crop", "c"}, 5, ApplyCrop},
    OptionDef{{"rotate", "rot"}, 1, ApplyRotate},
    OptionDef{{"flip", "fl"}, 2, ApplyFlip},
    OptionDef{{"auto_rotate", "ar"}, 1, ApplyAutoRotate},
    OptionDef{{"blur", "bl"}, 1, ApplyBlur},
    OptionDef{{"sharpen", "sh"}, 1, ApplySharpen},
    OptionDef{{"background", "bg"}, 3, ApplyBackground},
    OptionDef{{"quality", "q"}, 1, ApplyQuality},
    OptionDef{{"strip_metadata", "sm"}, 1, ApplyStripMetadata},
    OptionDef{{"format", "f", "ext"}, 1, ApplyFormat},
    OptionDef{{"preset", "pr"}, kUnlimited, ApplyPreset},
    OptionDef{{"expires", "exp"}, 1, ApplyExpires},
    OptionDef{{"filename", "fn"}, 2, ApplyFilename},
    OptionDef{{"return_attachment", "att"}, 1, ApplyAttachment},
    OptionDef{{"cachebuster", "cb"}, 1, ApplyCachebuster},
    OptionDef{{"min-width", "mw"}, 1, ApplyMinWidth},
    OptionDef{{"min-height", "mh"}, 1, ApplyMinHeight},
    OptionDef{{"zoom", "z"}, 2, ApplyZoom},
    OptionDef{{"extend_aspect_ratio", "extend_ar", "exar"}, 4, ApplyExtendAspectRatio},
    OptionDef{{"trim", "t"}, 4, ApplyTrim},
    OptionDef{{"padding", "pd"}, 4, ApplyPadding},
    OptionDef{{"pixelate", "pix"}, 1, ApplyPixelate},
    OptionDef{{"watermark", "wm"}, 5, ApplyWatermark},
    OptionDef{{"keep_copyright", "kcr"}, 1, ApplyKeepCopyright},
    OptionDef{{"strip_color_profile", "scp"}, 1, ApplyStripColorProfile},
    OptionDef{{"enforce_thumbnail", "eth"}, 1, ApplyEnforceThumbnail},
    OptionDef{{"format_quality", "fq"}, kUnlimited, ApplyFormatQuality},
    OptionDef{{"max_bytes", "mb"}, 1, ApplyMaxBytes},
    // imgproxy spells it "skp"; @imgproxy/imgproxy-js-core writes "sp".
    OptionDef{{"skip_processing", "skp", "sp"}, kUnlimited, ApplySkipProcessing},
    OptionDef{{"raw"}, 1, ApplyRaw},
    // imgproxy's security options: only the server's configuration sets these limits here.
    OptionDef{{"max_src_resolution", "msr"}, kUnlimited, RejectSecurityOption},
    OptionDef{{"max_src_file_size", "msfs"}, kUnlimited, RejectSecurityOption},
    OptionDef{{"max_animation_frames", "maf"}, kUnlimited, RejectSecurityOption},
    OptionDef{{"max_animation_frame_resolution", "mafr"}, kUnlimited, RejectSecurityOption},
    OptionDef{{"max_result_dimension", "mrd"}, kUnlimited, RejectSecurityOption},
    // imgproxy Pro options: recognised so that the error says why instead of "unknown".
    OptionDef{{"adjust", "a"}, kUnlimited, RejectProOption},
    OptionDef{{"brightness", "br"}, kUnlimited, RejectProOption},
    OptionDef{{"contrast", "co"}, kUnlimited, RejectProOption},
    OptionDef{{"saturation", "sa"}, kUnlimited, RejectProOption},
    OptionDef{{"monochrome", "mc"}, kUnlimited, RejectProOption},
    OptionDef{{"duotone", "dt"}, kUnlimited, RejectProOption},
    OptionDef{{"colorize", "col"}, kUnlimited, RejectProOption},
    OptionDef{{"gradient", "gr"}, kUnlimited, RejectProOption},
    OptionDef{{"unsharp_masking", "unsharp", "ush"}, kUnlimited, RejectProOption},
    OptionDef{{"blur_detections", "bd"}, kUnlimited, RejectProOption},
    OptionDef{{"draw_detections", "dd"}, kUnlimited, RejectProOption},
    OptionDef{{"blur_areas", "ba"}, kUnlimited, RejectProOption},
    OptionDef{{"crop_objects", "c_obj"}, kUnlimited, RejectProOption},
    OptionDef{{"crop_aspect_ratio", "crop_ar", "car"}, kUnlimited, RejectProOption},
    OptionDef{{"objects_position", "obj_pos", "op"}, kUnlimited, RejectProOption},
    OptionDef{{"resizing_algorithm", "ra"}, kUnlimited, RejectProOption},
    OptionDef{{"background_alpha", "bga"}, kUnlimited, RejectProOption},
    OptionDef{{"dpi"}, kUnlimited, RejectProOption},
    OptionDef{{"autoquality", "aq"}, kUnlimited, RejectProOption},
    OptionDef{{"jpeg_options", "jpgo"}, kUnlimited, RejectProOption},
    OptionDef{{"png_options", "pngo"}, kUnlimited, RejectProOption},
    OptionDef{{"webp_options", "webpo"}, kUnlimited, RejectProOption},
    OptionDef{{"avif_options", "avifo"}, kUnlimited, RejectProOption},
    OptionDef{{"palette", "p"}, kUnlimited, RejectProOption},
    OptionDef{{"preserve_hdr", "ph"}, kUnlimited, RejectProOption},
    OptionDef{{"page", "pg"}, kUnlimited, RejectProOption},
    OptionDef{{"pages", "pgs"}, kUnlimited, RejectProOption},
    OptionDef{{"disable_animation", "da"}, kUnlimited, RejectProOption},
    OptionDef{{"video_thumbnail_second", "vts"}, kUnlimited, RejectProOption},
    OptionDef{{"video_thumbnail_keyframes", "vtk"}, kUnlimited, RejectProOption},
    OptionDef{{"video_thumbnail_tile", "vtt"}, kUnlimited, RejectProOption},
    OptionDef{{"video_thumbnail_animation", "vta"}, kUnlimited, RejectProOption},
    OptionDef{{"fallback_image_url", "fiu"}, kUnlimited, RejectProOption},
    OptionDef{{"watermark_url", "wmu"}, kUnlimited, RejectProOption},
    OptionDef{{"watermark_text", "wmt"}, kUnlimited, RejectProOption},
    OptionDef{{"watermark_size", "wms"}, kUnlimited, RejectProOption},
    OptionDef{{"watermark_rotate", "wm_rot", "wmr"}, kUnlimited, RejectProOption},
    OptionDef{{"watermark_shadow", "wmsh"}, kUnlimited, RejectProOption},
    OptionDef{{"style", "stl"}, kUnlimited, RejectProOption},
    OptionDef{{"progressive_blur", "pbl"}, kUnlimited, RejectProOption},
    OptionDef{{"hashsum", "hs"}, kUnlimited, RejectProOption},
    OptionDef{{"bypass_cache", "bc"}, kUnlimited, RejectProOption},
    OptionDef{{"cache_tags", "ct"}, kUnlimited, RejectProOption},
};

const OptionDef* FindOption(std::string_view name) {
  if (name.empty()) return nullptr;
  for (const auto& option : kOptions) {
    for (const std::string_view candidate : option.names) {
      if (candidate == name) return &option;
    }
  }
  return nullptr;
}

bool IsPresetOption(std::string_view name) {
  const OptionDef* option = FindOption(name);
  return option != nullptr && option->apply == ApplyPreset;
}

// `segment` is "name:arg:…" (at least one ':'). Errors come back as complete messages.
ArgResult ApplyOption(ParseState& state, std::string_view segment) {
  const std::vector<std::string_view> parts = Split(segment, kArgumentSeparator);
  const std::string_view name = parts[0];
  const OptionDef* option = FindOption(name);
  if (option == nullptr) return std::unexpected("unknown option " + Quote(name));
  const Args args = Args(parts).subspan(1);
  std::string prefix(option->names[0]);
  prefix += ": ";
  if (args.size() > option->max_args) {
    return std::unexpected(prefix + "too many arguments (" + std::to_string(args.size()) +
                           " given, at most " + std::to_string(option->max_args) + ")");
  }
  if (auto result = option->apply(state, args); !result) {
    return std::unexpected(prefix + result.error());
  }
  return {};
}

// A preset's text: options separated by "/", e.g. "rs:fit:200:200/q:70".
ArgResult ApplyOptionList(ParseState& state, std::string_view options) {
  for (const std::string_view segment : Split(options, '/')) {
    if (segment.empty()) continue;
    if (segment.find(kArgumentSeparator) == std::string_view::npos) {
      return std::unexpected(Quote(segment) + " is not an option (expected name:argument)");
    }
    if (auto result = ApplyOption(state, segment); !result) return result;
  }
  return {};
}

ArgResult ApplyDefaultPreset(ParseState& state) {
  constexpr std::string_view kDefault = "default";
  if (!state.config.presets.contains(std::string(kDefault))) return {};
  const std::string_view args[] = {kDefault};
  if (auto result = ApplyPreset(state, args); !result) {
    return std::unexpected("preset: " + result.error());
  }
  return {};
}

std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    unsigned value = 0;
    const auto [ptr, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
    if (ec != std::errc() || ptr != text.data() + i + 3) return std::nullopt;
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

// The scheme of "scheme://…" (RFC 3986 scheme characters). Anything else is relative, including
// names with a colon such as "2024-01-01T10:00.jpg", which the base URL then prefixes.
std::optional<std::string_view> SchemeOf(std::string_view url) {
  if (url.empty() || !std::isalpha(static_cast<unsigned char>(url[0]))) return std::nullopt;
  for (size_t i = 1; i < url.size(); ++i) {
    const auto c = static_cast<unsigned char>(url[i]);
    if (c == ':') {
      if (url.substr(i, 3) != "://") return std::nullopt;
      return url.substr(0, i);
    }
    if (!std::isalnum(c) && c != '+' && c != '-' && c != '.') return std::nullopt;
  }
  return std::nullopt;
}

// Lower-cases the scheme so "HTTP://x" and "http://x" are one source.
Result<std::string> NormalizeSchemedSource(std::string source) {
  constexpr std::string_view kSchemes[] = {"local", "s3", "http", "https"};
  const size_t scheme_size = SchemeOf(source).value_or("").size();
  for (size_t i = 0; i < scheme_size; ++i) {
    source[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(source[i])));
  }
  const std::string_view scheme = std::string_view(source).substr(0, scheme_size);
  const bool known =
      std::find(std::begin(kSchemes), std::end(kSchemes), scheme) != std::end(kSchemes);
  if (!known) {
    return Fail(ErrorCode::kInvalidArgument, "unsupported source scheme " + Quote(scheme) +
                                            " (use local:///, s3://, http:// or https://)");
  }
  if (source.size() == scheme_size + 3) {
    return Fail(ErrorCode::kInvalidArgument, "source URL " + Quote(source) + " names nothing");
  }
  return source;
}

Result<std::string> ResolveSource(std::string source, const ParserConfig& config) {
  if (source.empty()) return Fail(ErrorCode::kInvalidArgument, "source URL is empty");
  if (!SchemeOf(source)) {
    if (config.base_url.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "source " + Quote(source) + " has no scheme and no base URL is configured");
    }
    source = config.base_url + source;
  }
  return NormalizeSchemedSource(std::move(source));
}

struct DecodedSource {
  std::string url;
  std::string extension;  // "" when none was given
};

// "plain/<percent-escaped url>[@ext]": the URL may itself contain "/", so the rest of the path is
// rejoined.
Result<DecodedSource> DecodePlainSource(Args parts) {
  std::string joined;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) joined += '/';
    joined += parts[i];
  }
  const size_t at = joined.find('@');
  if (at != std::string::npos && joined.find('@', at + 1) != std::string::npos) {
    return Fail(ErrorCode::kInvalidArgument,
                "source: more than one \"@\" in a plain source URL (escape \"@\" as %40)");
  }
  auto url = PercentDecode(std::string_view(joined).substr(0, at));
  if (!url) return Fail(ErrorCode::kInvalidArgument, "source: malformed percent-escape in plain URL");
  return DecodedSource{std::move(*url), at == std::string::npos ? "" : joined.substr(at + 1)};
}

// base64url, possibly split by "/" (the pieces are simply concatenated), then an optional ".ext".
Result<DecodedSource> DecodeBase64Source(Args parts) {
  std::string joined;
  for (const std::string_view part : parts) joined += part;
  const size_t dot = joined.find('.');
  if (dot != std::string::npos && joined.find('.', dot + 1) != std::string::npos) {
    return Fail(ErrorCode::kInvalidArgument, "source: more than one extension after the base64 URL");
  }
  const std::string_view encoded = std::string_view(joined).substr(0, dot);
  if (encoded.empty()) return Fail(ErrorCode::kInvalidArgument, "source URL is empty");
  auto url = DecodeBase64Url(encoded);
  if (!url) {
    return Fail(ErrorCode::kInvalidArgument,
                "source: not valid base64url (use plain/<url> for unencoded sources)");
  }
  return DecodedSource{std::move(*url), dot == std::string::npos ? "" : joined.substr(dot + 1)};
}

std::string Number(double value) {
  char text[32];
  const auto end = std::to_chars(text, text + sizeof(text), value).ptr;
  return std::string(text, end);
}

// Every argument that becomes a size in output pixels, after dpr (and zoom for the box), is at
// most max_dimension: the plan's arithmetic and libvips' stay in range, and an absurd request is
// a 400 naming its option rather than a render that runs until the deadline. Checked once the
// whole path is read, so the order of options does not matter.
ArgResult CheckDimensions(const TransformSpec& spec, int max_dimension) {
  const std::string limit = std::to_string(max_dimension);
  const auto over = [&](double value) { return !(value <= max_dimension); };
  // "padding: top 9000 × 2 is larger than the maximum 8192"
  const auto too_large = [&](std::string_view option, const std::string& what) {
    return std::unexpected(std::string(option) + ": " + what + " is larger than the maximum " +
                           limit);
  };
  const auto times_dpr = [&](std::string_view field, double value) {
    return std::string(field) + (field.empty() ? "" : " ") + Number(value) +
           (spec.dpr == 1 ? "" : " × " + Number(spec.dpr));
  };
  const std::tuple<std::string_view, int, double> sides[] = {
      {"width", spec.width, spec.zoom_x}, {"height", spec.height, spec.zoom_y}};
  for (const auto& [name, value, zoom] : sides) {
    if (value > max_dimension) return too_large(name, std::to_string(value));
    if (over(value * spec.dpr)) return too_large("dpr", times_dpr(name, value));
    if (over(value * spec.dpr * zoom)) {
      return too_large("zoom", times_dpr(name, value) + " × " + Number(zoom));
    }
  }
  // A zoom past the limit makes even a 1-pixel source too large.
  if (over(spec.zoom_x)) return too_large("zoom", Number(spec.zoom_x));
  if (over(spec.zoom_y)) return too_large("zoom", Number(spec.zoom_y));
  const std::tuple<std::string_view, std::string_view, int> scaled[] = {
      {"min-width", "", spec.min_width},        {"min-height", "", spec.min_height},
      {"padding", "top", spec.padding.top},     {"padding", "right", spec.padding.right},
      {"padding", "bottom", spec.padding.bottom}, {"padding", "left", spec.padding.left},
      {"pixelate", "", spec.pixelate}};
  for (const auto& [option, field, value] : scaled) {
    if (over(value * spec.dpr)) return too_large(option, times_dpr(field, value));
  }
  return {};
}

std::unexpected<common::Error> BadRequest(ArgResult result) {
  return Fail(ErrorCode::kInvalidArgument, std::move(result.error()));
}

}  // namespace

common::Result<void> ParserConfig::Validate() const {
  if (max_dimension <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "parser: max_dimension must be positive");
  }
  if (!base_url.empty()) {
    if (auto resolved = NormalizeSchemedSource(base_url); !resolved) {
      return Fail(ErrorCode::kInvalidArgument, "parser: base_url: " + resolved.error().message);
    }
  }
  for (const auto& [name, options] : presets) {
    ParseState state{.config = *this, .request = ImageRequest(), .preset_stack = {name}};
    if (auto result = ApplyOptionList(state, options); !result) {
      return Fail(ErrorCode::kInvalidArgument, "preset " + Quote(name) + ": " + result.error());
    }
  }
  return {};
}

common::Result<ImageRequest> ParseProcessingPath(std::string_view path,
                                                 const ParserConfig& config) {
  if (path.starts_with('/')) path.remove_prefix(1);
  if (path.empty()) return Fail(ErrorCode::kInvalidArgument, "path has no source URL");
  const std::vector<std::string_view> parts = Split(path, '/');

  if (FindResizingType(parts[0])) {
    return Fail(ErrorCode::kInvalidArgument,
                "the old basic URL format (/" + std::string(parts[0]) +
                    "/…) is not supported; use options such as rs:fill:300:200");
  }

  ParseState state{.config = config, .request = ImageRequest(), .preset_stack = {}};
  if (auto result = ApplyDefaultPreset(state); !result) return BadRequest(std::move(result));

  // Options end at the first segment without ':' (imgproxy's rule): neither "plain" nor any piece
  // of a base64url source can contain one, while every option does.
  size_t source_start = 0;
  for (; source_start < parts.size(); ++source_start) {
    const std::string_view segment = parts[source_start];
    if (segment.find(kArgumentSeparator) == std::string_view::npos) break;
    if (config.only_presets && !IsPresetOption(segment.substr(0, segment.find(':')))) {
      return Fail(ErrorCode::kInvalidArgument,
                  "option " + Quote(segment.substr(0, segment.find(':'))) +
                      " is not allowed: this server only accepts presets (pr:name)");
    }
    if (auto result = ApplyOption(state, segment); !result) return BadRequest(std::move(result));
  }

  const Args source_parts = Args(parts).subspan(source_start);
  if (source_parts.empty()) return Fail(ErrorCode::kInvalidArgument, "path has no source URL");
  Result<DecodedSource> decoded = source_parts[0] == "plain" && source_parts.size() > 1
                                      ? DecodePlainSource(source_parts.subspan(1))
                                      : DecodeBase64Source(source_parts);
  if (!decoded) return std::unexpected(std::move(decoded.error()));

  auto source = ResolveSource(std::move(decoded->url), config);
  if (!source) return std::unexpected(std::move(source.error()));
  state.request.source = std::move(*source);

  // The source's extension is applied last, so it wins over f: (as in imgproxy), except for raw
  // requests, whose bytes are served as they are whatever the URL's extension says.
  if (!decoded->extension.empty() && !state.request.spec.raw) {
    const auto format = FormatFromExtension(decoded->extension);
    if (!format) {
      return Fail(ErrorCode::kInvalidArgument, "source extension must be " + std::string(kFormatList) +
                                              ", got " + Quote(decoded->extension));
    }
    state.request.spec.format = *format;
  }

  if (auto result = CheckDimensions(state.request.spec, config.max_dimension); !result) {
    return BadRequest(std::move(result));
  }
  return std::move(state.request);
}

}  // namespace imgorigin::transforms
