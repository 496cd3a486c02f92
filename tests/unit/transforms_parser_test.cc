#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "signing/base64url.h"

#include "transforms/parser.h"

namespace imgorigin::transforms {
namespace {

using common::ErrorCode;
using ::testing::HasSubstr;

std::string Base64Url(std::string_view bytes) { return signing::Base64UrlEncode(bytes); }

ImageRequest MustParse(std::string_view path, const ParserConfig& config = {}) {
  auto result = ParseProcessingPath(path, config);
  EXPECT_TRUE(result.has_value()) << path << ": " << (result ? "" : result.error().message);
  return result ? *result : ImageRequest{};
}

std::string ParseError(std::string_view path, const ParserConfig& config = {}) {
  auto result = ParseProcessingPath(path, config);
  EXPECT_FALSE(result.has_value())
      << path << " parsed, canonical " << (result ? result->spec.Canonical() : "");
  if (result) return "";
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument) << path;
  return result.error().message;
}

constexpr std::string_view kSource = "/plain/local:///a.jpg";

TEST(ParseProcessingPath, ImgproxyPublishedExample) {
  const ImageRequest request = MustParse(
      "/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png");
  EXPECT_EQ(request.source, "http://example.com/images/curiosity.jpg");
  EXPECT_EQ(request.spec.format, ImageFormat::kPng);
  EXPECT_EQ(request.spec.resizing_type, ResizingType::kFill);
  EXPECT_EQ(request.spec.width, 300);
  EXPECT_EQ(request.spec.height, 400);
  EXPECT_FALSE(request.spec.enlarge);
  EXPECT_EQ(request.spec.gravity.type, GravityType::kSmart);
  EXPECT_EQ(request.spec.Canonical(), "rs:fill:300:400:0/g:sm/f:png");
}

TEST(ParseProcessingPath, DesignDocExample) {
  const ImageRequest request =
      MustParse("/rs:fill:300:300/g:sm/q:80/plain/s3://shop/products/42.jpg@webp");
  EXPECT_EQ(request.source, "s3://shop/products/42.jpg");
  EXPECT_EQ(request.spec.Canonical(), "rs:fill:300:300:0/g:sm/q:80/f:webp");
}

TEST(ParseProcessingPath, NoOptions) {
  const ImageRequest request = MustParse("/plain/local:///dir/a.jpg");
  EXPECT_EQ(request.source, "local:///dir/a.jpg");
  EXPECT_EQ(request.spec, TransformSpec{});
  EXPECT_FALSE(request.expires);
  EXPECT_EQ(request.filename, "");
  EXPECT_FALSE(request.attachment);
  EXPECT_EQ(request.cachebuster, "");
}

TEST(ParseProcessingPath, LeadingSlashIsOptional) {
  EXPECT_EQ(MustParse("w:10/plain/local:///a.jpg").spec.width, 10);
}

// --- Options, one by one --------------------------------------------------------------------

TEST(ParseOptions, ResizeSetsEveryPart) {
  const TransformSpec spec =
      MustParse(std::string("/rs:force:10:20:1:1:so:5:6") + kSource.data()).spec;
  EXPECT_EQ(spec.resizing_type, ResizingType::kForce);
  EXPECT_EQ(spec.width, 10);
  EXPECT_EQ(spec.height, 20);
  EXPECT_TRUE(spec.enlarge);
  EXPECT_TRUE(spec.extend);
  EXPECT_EQ(spec.extend_gravity, (Gravity{GravityType::kSouth, 5, 6}));
}

TEST(ParseOptions, ResizeMissingAndEmptyArgumentsKeepValues) {
  TransformSpec spec = MustParse(std::string("/w:50/h:60/rt:fill/rs:::70") + kSource.data()).spec;
  EXPECT_EQ(spec.resizing_type, ResizingType::kFill);
  EXPECT_EQ(spec.width, 50);
  EXPECT_EQ(spec.height, 70);
  spec = MustParse(std::string("/h:60/rs:fit:10") + kSource.data()).spec;
  EXPECT_EQ(spec.width, 10);
  EXPECT_EQ(spec.height, 60);
  spec = MustParse(std::string("/ex:1:no/s:1:2::") + kSource.data()).spec;
  EXPECT_TRUE(spec.extend);
  EXPECT_EQ(spec.extend_gravity.type, GravityType::kNorth);
}

TEST(ParseOptions, ResizingTypes) {
  const std::pair<const char*, ResizingType> cases[] = {
      {"fit", ResizingType::kFit},
      {"fill", ResizingType::kFill},
      {"fill-down", ResizingType::kFillDown},
      {"force", ResizingType::kForce},
      {"auto", ResizingType::kAuto},
  };
  for (const auto& [name, type] : cases) {
    EXPECT_EQ(MustParse(std::string("/rt:") + name + kSource.data()).spec.resizing_type, type);
    EXPECT_EQ(MustParse(std::string("/resizing_type:") + name + kSource.data()).spec.resizing_type,
              type);
  }
}

TEST(ParseOptions, Gravity) {
  struct Case {
    const char* option;
    Gravity gravity;
  };
  const Case cases[] = {
      {"g:no", {GravityType::kNorth, 0, 0}},
      {"g:so:10", {GravityType::kSouth, 10, 0}},
      {"g:ea:10:-20", {GravityType::kEast, 10, -20}},
      {"g:we::3", {GravityType::kWest, 0, 3}},
      {"g:noea:0.5:0.25", {GravityType::kNorthEast, 0.5, 0.25}},
      {"g:nowe", {GravityType::kNorthWest, 0, 0}},
      {"g:soea", {GravityType::kSouthEast, 0, 0}},
      {"g:sowe", {GravityType::kSouthWest, 0, 0}},
      {"g:ce", {GravityType::kCenter, 0, 0}},
      {"gravity:sm", {GravityType::kSmart, 0, 0}},
      {"g:fp:0.3:0.7", {GravityType::kFocusPoint, 0.3, 0.7}},
      {"g:fp:0:1", {GravityType::kFocusPoint, 0, 1}},
      // As in imgproxy, a later gravity keeps offsets it does not restate; smart clears them.
      {"g:no:5:6/g:so", {GravityType::kSouth, 5, 6}},
      {"g:no:5:6/g:sm", {GravityType::kSmart, 0, 0}},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(MustParse(std::string("/") + c.option + kSource.data()).spec.gravity, c.gravity)
        << c.option;
  }
}

TEST(ParseOptions, CropKeepsItsOwnGravity) {
  TransformSpec spec = MustParse(std::string("/c:100:50") + kSource.data()).spec;
  ASSERT_TRUE(spec.crop);
  EXPECT_EQ(spec.crop->width, 100);
  EXPECT_EQ(spec.crop->height, 50);
  EXPECT_FALSE(spec.crop->gravity);

  spec = MustParse(std::string("/crop:0.5:0.25:fp:0.1:0.9") + kSource.data()).spec;
  ASSERT_TRUE(spec.crop);
  EXPECT_EQ(spec.crop->width, 0.5);
  EXPECT_EQ(spec.crop->height, 0.25);
  EXPECT_EQ(spec.crop->gravity, (Gravity{GravityType::kFocusPoint, 0.1, 0.9}));

  spec = MustParse(std::string("/c:100:100:sm/c:40") + kSource.data()).spec;
  EXPECT_EQ(spec.crop->width, 40);
  EXPECT_EQ(spec.crop->height, 100);
  EXPECT_EQ(spec.crop->gravity, (Gravity{GravityType::kSmart, 0, 0}));
}

TEST(ParseOptions, RotateNormalisesMultiplesOf90) {
  const std::pair<const char*, int> cases[] = {
      {"rot:0", 0},   {"rot:90", 90},   {"rotate:180", 180}, {"rot:270", 270},
      {"rot:360", 0}, {"rot:-90", 270}, {"rot:450", 90},
  };
  for (const auto& [option, angle] : cases) {
    EXPECT_EQ(MustParse(std::string("/") + option + kSource.data()).spec.rotate, angle) << option;
  }
}

TEST(ParseOptions, FlipEmptyArgumentsKeepValues) {
  TransformSpec spec = MustParse(std::string("/fl:1") + kSource.data()).spec;
  EXPECT_TRUE(spec.flip_horizontal);
  EXPECT_FALSE(spec.flip_vertical);
  spec = MustParse(std::string("/fl:t/flip::true") + kSource.data()).spec;
  EXPECT_TRUE(spec.flip_horizontal);
  EXPECT_TRUE(spec.flip_vertical);
}

TEST(ParseOptions, Booleans) {
  for (const char* yes : {"1", "t", "true", "T", "TRUE", "True"}) {
    EXPECT_TRUE(MustParse(std::string("/el:") + yes + kSource.data()).spec.enlarge) << yes;
  }
  for (const char* no : {"0", "f", "false", "F", "FALSE", "False", ""}) {
    EXPECT_FALSE(MustParse(std::string("/sm:") + no + kSource.data()).spec.strip_metadata) << no;
    EXPECT_FALSE(MustParse(std::string("/ar:") + no + kSource.data()).spec.auto_rotate) << no;
  }
  EXPECT_TRUE(MustParse(std::string("/att:1") + kSource.data()).attachment);
  EXPECT_TRUE(MustParse(std::string("/return_attachment:t") + kSource.data()).attachment);
}

TEST(ParseOptions, BlurSharpenDprQuality) {
  const TransformSpec spec =
      MustParse(std::string("/bl:2.5/sh:0.7/dpr:1.5/q:85") + kSource.data()).spec;
  EXPECT_EQ(spec.blur, 2.5);
  EXPECT_EQ(spec.sharpen, 0.7);
  EXPECT_EQ(spec.dpr, 1.5);
  EXPECT_EQ(spec.quality, 85);
  EXPECT_EQ(MustParse(std::string("/dpr:8/q:0/q:100") + kSource.data()).spec.dpr, 8);
}

TEST(ParseOptions, Background) {
  EXPECT_EQ(MustParse(std::string("/bg:255:0:10") + kSource.data()).spec.background,
            (Rgb{255, 0, 10}));
  EXPECT_EQ(MustParse(std::string("/bg:FF000a") + kSource.data()).spec.background,
            (Rgb{255, 0, 10}));
  EXPECT_EQ(MustParse(std::string("/background:f0a") + kSource.data()).spec.background,
            (Rgb{255, 0, 0xaa}));
  EXPECT_EQ(MustParse(std::string("/bg:ffffff/bg:") + kSource.data()).spec.background,
            std::nullopt);
}

TEST(ParseOptions, FormatAndExtension) {
  EXPECT_EQ(MustParse(std::string("/f:webp") + kSource.data()).spec.format, ImageFormat::kWebp);
  EXPECT_EQ(MustParse(std::string("/format:jpeg") + kSource.data()).spec.format,
            ImageFormat::kJpeg);
  EXPECT_EQ(MustParse(std::string("/ext:AVIF") + kSource.data()).spec.format, ImageFormat::kAvif);
  // The source's extension is applied after the options, as in imgproxy.
  EXPECT_EQ(MustParse("/f:webp/plain/local:///a.jpg@png").spec.format, ImageFormat::kPng);
  EXPECT_EQ(MustParse("/plain/local:///a.jpg@").spec.format, ImageFormat::kUnknown);
}

TEST(ParseOptions, ExpiresIsRecordedNotEnforced) {
  EXPECT_EQ(MustParse(std::string("/exp:4102444800") + kSource.data()).expires, 4102444800);
  EXPECT_EQ(MustParse(std::string("/expires:1") + kSource.data()).expires, 1);  // long past
  EXPECT_EQ(MustParse(std::string("/exp:0") + kSource.data()).expires, std::nullopt);
}

TEST(ParseOptions, FilenameAttachmentCachebuster) {
  ImageRequest request = MustParse(std::string("/fn:cat/att:1/cb:v2") + kSource.data());
  EXPECT_EQ(request.filename, "cat");
  EXPECT_TRUE(request.attachment);
  EXPECT_EQ(request.cachebuster, "v2");
  EXPECT_EQ(request.spec, TransformSpec{});  // none of them changes the image

  request = MustParse("/filename:" + Base64Url("résumé photo") + ":1" + kSource.data());
  EXPECT_EQ(request.filename, "résumé photo");
  request = MustParse("/fn:" + Base64Url("a") + "==:t" + kSource.data());
  EXPECT_EQ(request.filename, "a");
  request = MustParse(std::string("/fn:plain:0") + kSource.data());
  EXPECT_EQ(request.filename, "plain");
}

// --- Sources ----------------------------------------------------------------------------------

TEST(ParseSource, PlainIsPercentDecoded) {
  const ImageRequest request = MustParse("/w:1/plain/https://example.com/a%20b/c%3Fd.jpg%40x@webp");
  EXPECT_EQ(request.source, "https://example.com/a b/c?d.jpg@x");
  EXPECT_EQ(request.spec.format, ImageFormat::kWebp);
}

TEST(ParseSource, PlainKeepsColonsAndEmptySegments) {
  EXPECT_EQ(MustParse("/plain/http://host:8080/x//y.png").source, "http://host:8080/x//y.png");
}

TEST(ParseSource, Base64WithAndWithoutExtension) {
  const std::string encoded = Base64Url("s3://bucket/key/photo.jpg");
  EXPECT_EQ(MustParse("/" + encoded).source, "s3://bucket/key/photo.jpg");
  const ImageRequest request = MustParse("/q:50/" + encoded + ".jxl");
  EXPECT_EQ(request.source, "s3://bucket/key/photo.jpg");
  EXPECT_EQ(request.spec.format, ImageFormat::kJxl);
  // Padding is tolerated, and the pieces may be split anywhere.
  EXPECT_EQ(MustParse("/" + Base64Url("http://a/b") + "==").source, "http://a/b");
  EXPECT_EQ(MustParse("/" + encoded.substr(0, 5) + "/" + encoded.substr(5, 3) + "/" +
                      encoded.substr(8) + ".png")
                .source,
            "s3://bucket/key/photo.jpg");
}

TEST(ParseSource, BaseUrlIsPrefixedToRelativeSources) {
  ParserConfig config;
  config.base_url = "s3://bucket/";
  EXPECT_EQ(MustParse("/plain/images/a.jpg", config).source, "s3://bucket/images/a.jpg");
  EXPECT_EQ(MustParse("/" + Base64Url("b.png"), config).source, "s3://bucket/b.png");
  EXPECT_EQ(MustParse("/plain/http://other/a.jpg", config).source, "http://other/a.jpg");
  config.base_url = "local:///srv/";
  EXPECT_EQ(MustParse("/plain/2024-01-01T10%3A00.jpg", config).source,
            "local:///srv/2024-01-01T10:00.jpg");
  EXPECT_EQ(MustParse("/plain/mailto:x", config).source, "local:///srv/mailto:x");
}

TEST(ParseSource, SchemesAreCheckedAndLowercased) {
  EXPECT_EQ(MustParse("/plain/HTTPS://Example.com/A.jpg").source, "https://Example.com/A.jpg");
  EXPECT_EQ(MustParse("/plain/local:///a.jpg").source, "local:///a.jpg");
  for (const char* bad :
       {"/plain/ftp://x/a.jpg", "/plain/file:///etc/passwd", "/plain/gopher://x"}) {
    EXPECT_THAT(ParseError(bad), HasSubstr("unsupported source scheme")) << bad;
  }
  EXPECT_THAT(ParseError("/" + Base64Url("data://image/png;base64,AAAA")),
              HasSubstr("unsupported source scheme \"data\""));
  // Without "://" there is no scheme, so these are relative names and need a base URL.
  for (const char* relative :
       {"/plain/a.jpg", "/plain/javascript:alert(1)", "/plain/http:x.jpg", "/plain/%2Fa.jpg"}) {
    EXPECT_THAT(ParseError(relative), HasSubstr("no base URL")) << relative;
  }
  EXPECT_THAT(ParseError("/plain/http://"), HasSubstr("names nothing"));
}

TEST(ParseSource, Errors) {
  const std::pair<std::string, std::string> cases[] = {
      {"", "no source"},
      {"/", "no source"},
      {"/w:100", "no source"},
      {"/w:100/", "source URL is empty"},
      {"/plain/@png", "source URL is empty"},
      {"/.png", "source URL is empty"},
      {"/plain/local:///a.jpg@exe", "source extension must be"},
      {"/" + Base64Url("local:///a.jpg") + ".bmpx", "source extension must be"},
      {"/plain/local:///a@b.jpg@png", "more than one \"@\""},
      {"/" + Base64Url("local:///a.jpg") + ".png.jpg", "more than one extension"},
      {"/plain/local:///a%zz.jpg", "percent-escape"},
      {"/plain/local:///a%2", "percent-escape"},
      {"/a*b", "not valid base64url"},
      {"/abcde", "not valid base64url"},
      {"/fill/300/200/sm/0/" + Base64Url("http://x/a.jpg"), "basic URL format"},
  };
  for (const auto& [path, message] : cases) {
    EXPECT_THAT(ParseError(path), HasSubstr(message)) << path;
  }
}

// --- Errors name the option and the argument ----------------------------------------------------

TEST(ParseOptions, UnknownOption) {
  EXPECT_EQ(ParseError(std::string("/foo:1") + kSource.data()), "unknown option \"foo\"");
  EXPECT_EQ(ParseError(std::string("/:1") + kSource.data()), "unknown option \"\"");
  EXPECT_THAT(ParseError(std::string("/w:1/wmx:0.5") + kSource.data()),
              HasSubstr("unknown option \"wmx\""));
}

TEST(ParseOptions, BadArguments) {
  const std::pair<const char*, const char*> cases[] = {
      {"rs:fill:abc", "resize: width must be a non-negative integer, got \"abc\""},
      {"rs:fill:1:-2", "resize: height must be a non-negative integer, got \"-2\""},
      {"rs:squash",
       "resize: type must be one of fit, fill, fill-down, force, auto, got \"squash\""},
      {"rs:fit:1:1:maybe", "resize: enlarge must be a boolean"},
      {"rs:fit:1:1:1:1:sm", "resize: extend gravity type must be one of"},
      {"rs:fit:1:1:1:1:no:1:2:3", "resize: too many arguments (9 given, at most 8)"},
      {"s:x", "size: width must be a non-negative integer, got \"x\""},
      {"w:", "width: must be a non-negative integer, got \"\""},
      {"w:1.5", "width: must be a non-negative integer, got \"1.5\""},
      {"w:1:2", "width: too many arguments"},
      {"h:99999999999", "height: must be a non-negative integer"},
      {"rt:stretch", "resizing_type: must be one of"},
      {"dpr:0", "dpr: must be a number in (0, 8], got \"0\""},
      {"dpr:8.5", "dpr: must be a number in (0, 8]"},
      {"dpr:nan", "dpr: must be a number in (0, 8]"},
      {"el:yes", "enlarge: must be a boolean (1/t/true or 0/f/false), got \"yes\""},
      {"ex:1:sm",
       "extend: gravity type must be one of ce, no, so, ea, we, noea, nowe, soea, "
       "sowe, fp, got \"sm\""},
      {"g:up", "gravity: type must be one of ce, no, so, ea, we, noea, nowe, soea, sowe, sm, fp"},
      {"g:sm:1", "gravity: \"sm\" takes no offsets"},
      {"g:fp:0.5", "gravity: \"fp\" needs x and y"},
      {"g:fp:0.5:", "gravity: \"fp\" needs x and y"},
      {"g:fp:1.5:0", "gravity: x must be a number in [0, 1], got \"1.5\""},
      {"g:no:a", "gravity: x offset must be a number, got \"a\""},
      {"g:no:1:inf", "gravity: y offset must be a number, got \"inf\""},
      {"c:-1", "crop: width must be a non-negative number, got \"-1\""},
      {"c:", "crop: width must be a non-negative number"},
      {"c:1:x", "crop: height must be a non-negative number"},
      {"c:1:1:zz", "crop: gravity type must be one of"},
      {"rot:45", "rotate: must be a multiple of 90, got \"45\""},
      {"fl:x", "flip: horizontal must be a boolean"},
      {"fl:1:x", "flip: vertical must be a boolean"},
      {"ar:2", "auto_rotate: must be a boolean"},
      {"bl:-1", "blur: must be a number in [0, 250], got \"-1\""},
      {"sh:x", "sharpen: must be a number in [0, 20]"},
      {"bg:12345", "background: must be a hex colour"},
      {"bg:gg0000", "background: must be a hex colour"},
      {"bg:1:2", "background: expects R:G:B"},
      {"bg:1:2:256", "background: blue must be an integer in [0, 255], got \"256\""},
      {"q:101", "quality: must be an integer in [0, 100], got \"101\""},
      {"q:-1", "quality: must be an integer in [0, 100]"},
      {"sm:no", "strip_metadata: must be a boolean"},
      {"f:exe", "format: must be one of jpg"},
      {"f:", "format: must be one of jpg"},
      {"exp:soon", "expires: must be a unix timestamp, got \"soon\""},
      {"fn:***:1", "filename: must be base64url when the encoded flag is set"},
      {"fn:a:maybe", "filename: encoded flag must be a boolean"},
      {"fn:DQo:1", "filename: must be free of control characters"},
      {"att:x", "return_attachment: must be a boolean"},
      {"cb:a:b", "cachebuster: too many arguments"},
      {"pr:nope", "preset: unknown preset \"nope\""},
  };
  for (const auto& [option, message] : cases) {
    const std::string path = std::string("/") + option + kSource.data();
    EXPECT_THAT(ParseError(path), HasSubstr(message)) << path;
  }
}

TEST(ParseOptions, LongArgumentsAreShortenedInMessages) {
  const std::string message = ParseError("/w:" + std::string(500, '9') + "x" + kSource.data());
  EXPECT_LT(message.size(), 200u);
}

// --- Limits -------------------------------------------------------------------------------------

TEST(ParseLimits, MaxDimensionAppliesToSidesAndDprScaledSides) {
  ParserConfig config;
  config.max_dimension = 1000;
  MustParse(std::string("/w:1000/h:1000") + kSource.data(), config);
  MustParse(std::string("/w:500/dpr:2") + kSource.data(), config);
  EXPECT_THAT(ParseError(std::string("/w:1001") + kSource.data(), config),
              HasSubstr("width: 1001 is larger than the maximum 1000"));
  EXPECT_THAT(ParseError(std::string("/rs:fit:10:1001") + kSource.data(), config),
              HasSubstr("height: 1001 is larger than the maximum 1000"));
  // dpr may come before or after the size.
  EXPECT_THAT(ParseError(std::string("/dpr:2.5/w:401") + kSource.data(), config),
              HasSubstr("dpr: width 401 × 2.5 is larger than the maximum 1000"));
  EXPECT_THAT(ParseError(std::string("/h:600/dpr:2") + kSource.data(), config),
              HasSubstr("dpr: height"));
}

TEST(ParseLimits, DefaultMaxDimension) {
  MustParse(std::string("/w:8192") + kSource.data());
  EXPECT_THAT(ParseError(std::string("/w:8193") + kSource.data()), HasSubstr("width"));
}

// --- Presets ------------------------------------------------------------------------------------

ParserConfig PresetConfig() {
  ParserConfig config;
  config.presets = {
      {"small", "rs:fit:200:200/q:70"}, {"sharp", "sh:0.5"},          {"webp", "f:webp"},
      {"nested", "pr:small/g:no"},      {"loop_a", "pr:loop_b/bl:1"}, {"loop_b", "pr:loop_a/q:10"},
  };
  return config;
}

TEST(ParsePresets, ExpandInPlaceAndLaterOptionsWin) {
  const ParserConfig config = PresetConfig();
  TransformSpec spec = MustParse(std::string("/pr:small") + kSource.data(), config).spec;
  EXPECT_EQ(spec.Canonical(), "rs:fit:200:200:0/q:70");
  spec = MustParse(std::string("/pr:small/q:90") + kSource.data(), config).spec;
  EXPECT_EQ(spec.quality, 90);
  spec = MustParse(std::string("/q:90/preset:small") + kSource.data(), config).spec;
  EXPECT_EQ(spec.quality, 70);
  spec = MustParse(std::string("/pr:small:sharp:webp") + kSource.data(), config).spec;
  EXPECT_EQ(spec.Canonical(), "rs:fit:200:200:0/sh:0.5/q:70/f:webp");
  spec = MustParse(std::string("/pr:nested") + kSource.data(), config).spec;
  EXPECT_EQ(spec.Canonical(), "rs:fit:200:200:0/g:no/q:70");
}

TEST(ParsePresets, RecursionIsExpandedOnce) {
  const TransformSpec spec =
      MustParse(std::string("/pr:loop_a") + kSource.data(), PresetConfig()).spec;
  EXPECT_EQ(spec.blur, 1);
  EXPECT_EQ(spec.quality, 10);
}

TEST(ParsePresets, DefaultPresetAppliesFirst) {
  ParserConfig config = PresetConfig();
  config.presets["default"] = "q:60/sm:0/w:100";
  TransformSpec spec = MustParse(kSource, config).spec;
  EXPECT_EQ(spec.Canonical(), "rs:fit:100:0:0/q:60/sm:0");
  spec = MustParse(std::string("/q:80/sm:1") + kSource.data(), config).spec;
  EXPECT_EQ(spec.Canonical(), "rs:fit:100:0:0/q:80");
}

TEST(ParsePresets, BrokenDefaultPresetIsReported) {
  ParserConfig config;
  config.presets["default"] = "q:500";
  EXPECT_THAT(ParseError(kSource, config), HasSubstr("\"default\""));
  EXPECT_THAT(ParseError(kSource, config), HasSubstr("quality"));
}

TEST(ParsePresets, OnlyPresetsMode) {
  ParserConfig config = PresetConfig();
  config.only_presets = true;
  EXPECT_EQ(MustParse(std::string("/pr:small") + kSource.data(), config).spec.quality, 70);
  EXPECT_EQ(MustParse(std::string("/preset:small:webp/pr:sharp") + kSource.data(), config)
                .spec.Canonical(),
            "rs:fit:200:200:0/sh:0.5/q:70/f:webp");
  // Presets themselves may use any option.
  EXPECT_EQ(MustParse(std::string("/pr:nested") + kSource.data(), config).spec.gravity.type,
            GravityType::kNorth);
  MustParse(kSource, config);
  EXPECT_THAT(ParseError(std::string("/pr:small/q:90") + kSource.data(), config),
              HasSubstr("option \"q\" is not allowed"));
  EXPECT_THAT(ParseError(std::string("/w:10") + kSource.data(), config),
              HasSubstr("only accepts presets"));
  EXPECT_THAT(ParseError(std::string("/pr:nope") + kSource.data(), config),
              HasSubstr("unknown preset \"nope\""));
}

TEST(ParserConfigValidate, AcceptsGoodConfig) {
  EXPECT_TRUE(ParserConfig{}.Validate().has_value());
  ParserConfig config = PresetConfig();
  config.base_url = "s3://bucket/prefix/";
  EXPECT_TRUE(config.Validate().has_value());
}

TEST(ParserConfigValidate, NamesTheBadPreset) {
  ParserConfig config = PresetConfig();
  config.presets["thumb"] = "rs:fill:100:abc";
  auto result = config.Validate();
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message, HasSubstr("preset \"thumb\""));
  EXPECT_THAT(result.error().message, HasSubstr("resize: height"));

  config.presets["thumb"] = "pr:missing";
  result = config.Validate();
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message, HasSubstr("preset \"thumb\""));
  EXPECT_THAT(result.error().message, HasSubstr("unknown preset \"missing\""));

  config.presets["thumb"] = "w:100/junk";
  result = config.Validate();
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message, HasSubstr("\"junk\" is not an option"));
}

TEST(ParserConfigValidate, ChecksBaseUrlAndMaxDimension) {
  ParserConfig config;
  config.base_url = "ftp://x/";
  EXPECT_FALSE(config.Validate().has_value());
  config.base_url = "relative/";
  EXPECT_FALSE(config.Validate().has_value());
  config.base_url = "";
  config.max_dimension = 0;
  EXPECT_FALSE(config.Validate().has_value());
}

// --- Canonical form: equivalent URLs share a key, different images do not ----------------------

std::string CanonicalOf(const std::string& options, const ParserConfig& config = {}) {
  return MustParse(options + kSource.data(), config).spec.Canonical();
}

TEST(CanonicalEquivalence, EquivalentUrlsGiveOneString) {
  const std::pair<std::string, std::string> pairs[] = {
      {"/rs:fill:300:400", "/resize:fill:300:400"},
      {"/rs:fill:300:400", "/rt:fill/w:300/h:400"},
      {"/rs:fill:300:400", "/h:400/width:300/resizing_type:fill"},
      {"/rs:fill:300:400", "/s:300:400/rt:fill"},
      {"/rs:fill:300:400", "/rs:fill:300:400:0"},
      {"/rs:fill:300:400", "/rs:fill:300:400:f:0"},
      {"/rs:fill:300:400", "/rs:fill:300:400:false:false:ce"},
      {"/rs:fill:300:400", "/el:0/ex:0/rs:fill:300:400"},
      {"/rs:fill:300:400", "/w:1/rs:fill:300:400"},
      {"/rs:fit:300", "/w:300"},
      {"/rs:fit:300", "/rs::300"},
      {"/w:300", "/w:+300"},
      {"/g:sm", "/gravity:sm"},
      {"/g:no", "/g:no:0:0"},
      {"/g:no", "/g:no:0"},
      {"/g:ce", ""},
      {"/g:ce:0:0", ""},
      {"/g:no:1.50", "/g:no:1.5"},
      {"/g:no:1e1", "/g:no:10"},
      {"/g:no:-0", "/g:no"},
      {"/dpr:1", ""},
      {"/dpr:2", "/dpr:2.0"},
      {"/el:0", ""},
      {"/ex:0", ""},
      {"/ex:0:so", ""},
      {"/ex:1", "/ex:1:ce"},
      {"/ex:1", "/ex:true:ce:0:0"},
      {"/ex:1:so", "/s:::0:1:so"},
      {"/c:0:0", ""},
      {"/c:0", ""},
      {"/c:100:100", "/crop:100:100"},
      {"/g:no/c:100:100", "/g:no/c:100:100:no"},
      {"/g:no/c:100:100", "/c:100:100:no/g:no"},
      {"/rot:0", ""},
      {"/rot:360", ""},
      {"/rot:-90", "/rotate:270"},
      {"/fl:0:0", ""},
      {"/fl:1", "/fl:1:0"},
      {"/fl:t", "/flip:true:f"},
      {"/ar:1", ""},
      {"/ar:0", "/auto_rotate:false"},
      {"/bl:0", ""},
      {"/bl:2", "/blur:2.0"},
      {"/sh:0", ""},
      {"/sh:0.5", "/sharpen:.5"},
      {"/bg:ff0000", "/bg:255:0:0"},
      {"/bg:ff0000", "/bg:f00"},
      {"/bg:ff0000", "/background:FF0000"},
      {"/bg:ff0000/bg:", ""},
      {"/q:0", ""},
      {"/q:80", "/quality:80"},
      {"/sm:1", ""},
      {"/sm:0", "/strip_metadata:f"},
      {"/f:jpg", "/f:jpeg"},
      {"/f:jpg", "/ext:JPG"},
      {"/f:tiff", "/format:tif"},
      {"/q:80/f:webp/g:sm/rs:fill:300:400", "/rs:fill:300:400/g:sm/q:80/f:webp"},
      // Request-only options are not part of the image.
      {"/cb:123", ""},
      {"/fn:x/att:1", ""},
      {"/exp:4102444800", ""},
  };
  for (const auto& [a, b] : pairs) {
    EXPECT_EQ(CanonicalOf(a), CanonicalOf(b)) << a << " vs " << b;
  }
}

TEST(CanonicalEquivalence, PresetsFoldIntoTheirOptions) {
  const ParserConfig config = PresetConfig();
  EXPECT_EQ(CanonicalOf("/pr:small", config), CanonicalOf("/rs:fit:200:200/q:70"));
  EXPECT_EQ(CanonicalOf("/pr:small:webp", config), CanonicalOf("/pr:small/pr:webp", config));
}

TEST(CanonicalEquivalence, DifferentImagesGiveDifferentStrings) {
  const std::pair<std::string, std::string> pairs[] = {
      {"/rs:fill:300:400", "/rs:fit:300:400"},
      {"/rs:fill:300:400", "/rs:fill:400:300"},
      {"/rs:fill:300:400", "/rs:fill:300:400:1"},
      {"/rs:fill:300:400", "/rs:fill-down:300:400"},
      {"/rs:force:300:400", "/rs:auto:300:400"},
      {"/w:300", "/h:300"},
      {"/w:300", "/w:301"},
      {"/dpr:2", "/dpr:2.5"},
      {"/dpr:2/w:100", "/w:200"},
      {"/ex:1", ""},
      {"/ex:1", "/ex:1:no"},
      {"/ex:1:no:1:2", "/ex:1:no:2:1"},
      {"/g:no", "/g:so"},
      {"/g:no:1", "/g:no:0:1"},
      {"/g:no:10", "/g:no:10.5"},
      {"/g:sm", "/g:ce"},
      {"/g:fp:0.5:0.5", "/g:fp:0.5:0.6"},
      {"/g:fp:0:0", "/g:nowe"},
      {"/c:100:100", "/c:100:101"},
      {"/c:100:100", "/c:100:100:so"},
      {"/c:100", "/c:0:100"},
      {"/c:0.5:0.5", "/c:1:1"},
      {"/g:no/c:100:100", "/c:100:100:no"},
      {"/rot:90", "/rot:270"},
      {"/fl:1:0", "/fl:0:1"},
      {"/fl:1:1", "/fl:1:0"},
      {"/ar:0", ""},
      {"/bl:1", "/sh:1"},
      {"/bl:1", "/bl:1.0001"},
      {"/bg:ffffff", ""},
      {"/bg:ff0000", "/bg:00ff00"},
      {"/bg:000001", "/bg:010000"},
      {"/q:80", "/q:81"},
      {"/sm:0", ""},
      {"/f:png", "/f:webp"},
      {"/f:jpg", ""},
  };
  for (const auto& [a, b] : pairs) {
    EXPECT_NE(CanonicalOf(a), CanonicalOf(b)) << a << " vs " << b;
  }
}

// The canonical string is itself a valid option list that parses back to the same spec.
TEST(CanonicalEquivalence, CanonicalParsesBackToTheSameSpec) {
  const char* urls[] = {
      "/rs:fill:300:400/g:sm/q:80/f:webp",
      "/rs:fill-down:10:20:1:1:so:3:4/dpr:1.25/g:noea:5:-7/c:0.5:100:fp:0.25:0.75",
      "/rot:90/fl:1/ar:0/bl:1.5/sh:0.3/bg:ff0010/q:75/sm:0/f:avif",
      "/g:we/c:10:10/ex:1:fp:0.1:0.2",
      "/g:ce:0:12",
      "",
  };
  for (const char* url : urls) {
    const TransformSpec spec = MustParse(std::string(url) + kSource.data()).spec;
    const std::string canonical = spec.Canonical();
    const std::string path = (canonical.empty() ? "" : "/" + canonical) + std::string(kSource);
    const TransformSpec reparsed = MustParse(path).spec;
    EXPECT_EQ(reparsed.Canonical(), canonical) << url;
  }
}

// --- The rest of imgproxy's open-source option list ---

std::string Path(std::string_view options) { return std::string(options) + kSource.data(); }

TEST(ParseFullCatalogue, MinSizesAndZoom) {
  const TransformSpec spec = MustParse(Path("/min-width:100/mh:50/z:1.5")).spec;
  EXPECT_EQ(spec.min_width, 100);
  EXPECT_EQ(spec.min_height, 50);
  EXPECT_EQ(spec.zoom_x, 1.5);
  EXPECT_EQ(spec.zoom_y, 1.5);
  const TransformSpec two = MustParse(Path("/zoom:2:0.5")).spec;
  EXPECT_EQ(two.zoom_x, 2);
  EXPECT_EQ(two.zoom_y, 0.5);
  EXPECT_THAT(ParseError(Path("/z:0")), HasSubstr("zoom: must be a positive number"));
  EXPECT_THAT(ParseError(Path("/mw:-1")), HasSubstr("min-width: must be a non-negative integer"));
  EXPECT_THAT(ParseError(Path("/z:1:2:3")), HasSubstr("too many arguments"));
}

TEST(ParseFullCatalogue, ExtendAspectRatioAllThreeNames) {
  for (const char* name : {"extend_aspect_ratio", "extend_ar", "exar"}) {
    const TransformSpec spec = MustParse(Path(std::string("/") + name + ":1:so:0:5")).spec;
    EXPECT_TRUE(spec.extend_aspect_ratio) << name;
    EXPECT_EQ(spec.extend_aspect_ratio_gravity, (Gravity{GravityType::kSouth, 0, 5})) << name;
  }
  EXPECT_THAT(ParseError(Path("/exar:1:sm")), HasSubstr("gravity type must be one of"));
}

TEST(ParseFullCatalogue, Trim) {
  const TransformSpec spec = MustParse(Path("/t:20:ff0000:1:0")).spec;
  ASSERT_TRUE(spec.trim);
  EXPECT_EQ(spec.trim->threshold, 20);
  EXPECT_EQ(spec.trim->colour, (Rgb{255, 0, 0}));
  EXPECT_TRUE(spec.trim->equal_horizontal);
  EXPECT_FALSE(spec.trim->equal_vertical);
  // An empty threshold and colour go back to their defaults.
  const TransformSpec reset = MustParse(Path("/t:20:ff0000/trim::")).spec;
  EXPECT_EQ(reset.trim->threshold, 10);
  EXPECT_FALSE(reset.trim->colour);
  EXPECT_THAT(ParseError(Path("/t:10:red")), HasSubstr("trim: colour must be a hex colour"));
}

TEST(ParseFullCatalogue, PaddingFollowsCssShorthand) {
  EXPECT_EQ(MustParse(Path("/pd:10")).spec.padding, (Padding{10, 10, 10, 10}));
  EXPECT_EQ(MustParse(Path("/pd:10:20")).spec.padding, (Padding{10, 20, 10, 20}));
  EXPECT_EQ(MustParse(Path("/padding:1:2:3")).spec.padding, (Padding{1, 2, 3, 2}));
  EXPECT_EQ(MustParse(Path("/pd:1:2:3:4")).spec.padding, (Padding{1, 2, 3, 4}));
  EXPECT_THAT(ParseError(Path("/pd:1:x")), HasSubstr("padding: right must be"));
}

TEST(ParseFullCatalogue, FiltersAndMetadataFlags) {
  const TransformSpec spec =
      MustParse(Path("/pix:8/kcr:0/scp:false/eth:1/mb:10000/fq:webp:70:avif:50:jpg:0")).spec;
  EXPECT_EQ(spec.pixelate, 8);
  EXPECT_FALSE(spec.keep_copyright);
  EXPECT_FALSE(spec.strip_color_profile);
  EXPECT_TRUE(spec.enforce_thumbnail);
  EXPECT_EQ(spec.max_bytes, 10000);
  EXPECT_EQ(spec.format_quality,
            (std::map<ImageFormat, int>{{ImageFormat::kWebp, 70}, {ImageFormat::kAvif, 50}}));
  EXPECT_THAT(ParseError(Path("/fq:webp:70:avif")), HasSubstr("\"avif\" has no quality"));
  EXPECT_THAT(ParseError(Path("/fq:xyz:70")), HasSubstr("format_quality: format must be"));
  EXPECT_THAT(ParseError(Path("/fq:webp:101")), HasSubstr("webp quality must be"));
}

TEST(ParseFullCatalogue, SkipProcessingAndRaw) {
  const TransformSpec spec = MustParse(Path("/skp:svg:gif/sp:gif:jpg")).spec;
  EXPECT_EQ(spec.skip_processing,
            (std::vector<ImageFormat>{ImageFormat::kJpeg, ImageFormat::kGif, ImageFormat::kSvg}));
  EXPECT_THAT(ParseError(Path("/skp:doc")), HasSubstr("skip_processing: must be one of"));
  // raw serves the bytes as they are, so the source's extension does not become a format.
  const TransformSpec raw = MustParse("/raw:1/plain/local:///a.jpg@webp").spec;
  EXPECT_TRUE(raw.raw);
  EXPECT_EQ(raw.format, ImageFormat::kUnknown);
}

TEST(ParseFullCatalogue, WatermarkNeedsAConfiguredImage) {
  EXPECT_THAT(ParseError(Path("/wm:0.5")), HasSubstr("watermark: no watermark configured"));
  // Opacity 0 is "no watermark", which needs no image.
  EXPECT_FALSE(MustParse(Path("/wm:0")).spec.watermark);

  ParserConfig config;
  config.watermark_configured = true;
  const TransformSpec spec = MustParse(Path("/wm:0.5:soea:10:-5:0.25"), config).spec;
  ASSERT_TRUE(spec.watermark);
  EXPECT_EQ(spec.watermark->opacity, 0.5);
  EXPECT_EQ(spec.watermark->position, (Gravity{GravityType::kSouthEast, 10, -5}));
  EXPECT_FALSE(spec.watermark->replicate);
  EXPECT_EQ(spec.watermark->scale, 0.25);
  EXPECT_TRUE(MustParse(Path("/wm:1:re"), config).spec.watermark->replicate);
  EXPECT_THAT(ParseError(Path("/wm:1.5"), config), HasSubstr("watermark: opacity must be"));
  EXPECT_THAT(ParseError(Path("/wm:1:sm"), config), HasSubstr("watermark: position must be"));
  // scale 0 is imgproxy's "natural size" (and what Canonical() writes for it).
  EXPECT_EQ(MustParse(Path("/wm:1:ce:0:0:0"), config).spec.watermark->scale, 0);
  EXPECT_THAT(ParseError(Path("/wm:1:ce:0:0:-1"), config), HasSubstr("scale must be a non-neg"));
}

TEST(ParseFullCatalogue, ProOptionsSayTheyAreNotSupported) {
  for (const char* option : {"adjust:1:1:1", "br:10", "contrast:1", "sa:1", "ra:lanczos3",
                             "dpi:300", "pg:2", "pages:2", "vts:5", "wmu:aGk", "ush:1",
                             "obj_pos:1", "da:1", "fiu:aGk", "bga:0.5", "mc:1"}) {
    EXPECT_THAT(ParseError(Path(std::string("/") + option)), HasSubstr("is not supported"))
        << option;
  }
}

TEST(ParseFullCatalogue, SecurityOptionsAreServerSide) {
  for (const char* option : {"msr:100", "max_src_file_size:1", "maf:1", "mafr:1", "mrd:1"}) {
    EXPECT_THAT(ParseError(Path(std::string("/") + option)),
                HasSubstr("is not allowed in URLs"))
        << option;
  }
}

TEST(ParseFullCatalogue, EquivalentUrlsFoldDifferentOnesDiffer) {
  const auto canonical = [](std::string_view options) {
    return MustParse(std::string(options) + kSource.data()).spec.Canonical();
  };
  EXPECT_EQ(canonical("/mw:100/z:2"), canonical("/zoom:2:2/min-width:100"));
  EXPECT_EQ(canonical("/pd:10"), canonical("/padding:10:10:10:10"));
  EXPECT_EQ(canonical("/skp:gif:jpg"), canonical("/sp:jpeg/skip_processing:gif:gif"));
  EXPECT_EQ(canonical("/q:70/fq:webp:70/f:webp"), canonical("/q:70/f:webp"));
  EXPECT_EQ(canonical("/fq:avif:40/f:webp"), canonical("/f:webp"));
  EXPECT_EQ(canonical("/kcr:1/scp:1/eth:0/wm:0"), canonical(""));
  EXPECT_EQ(canonical("/raw:1/w:100"), canonical("/raw:1"));
  EXPECT_NE(canonical("/pd:10:20"), canonical("/pd:20:10"));
  EXPECT_NE(canonical("/t:10"), canonical("/t:11"));
  EXPECT_NE(canonical("/mb:1000"), canonical("/mb:1001"));
  EXPECT_NE(canonical("/fq:webp:70"), canonical("/fq:webp:71"));
  EXPECT_NE(canonical("/exar:1"), canonical("/exar:1:no"));
  EXPECT_NE(canonical("/pix:4"), canonical("/pix:5"));
}

}  // namespace
}  // namespace imgorigin::transforms
