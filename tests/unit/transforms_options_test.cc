// One test (or more) per processing option of the full catalogue, plus format and correctness
// cases: a fixture generated with libvips goes in, format, size and pixels are checked coming out.
// Pixel checks compare region means against the expected colour within kTolerance (out of 255),
// which absorbs JPEG/WebP loss and resampling at region edges.
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>
#include <vips/vips8>

#include "transforms/pipeline.h"
#include "tests/unit/transforms_test_images.h"

namespace imgorigin::transforms {
namespace {

using common::ErrorCode;
using vips::VImage;
using namespace test_images;
constexpr double kTolerance = kColourTolerance;

class VipsEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { InitVips("transforms_options_test"); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new VipsEnvironment);

void ExpectQuadrants(const VImage& img) {
  const int w = img.width(), h = img.height();
  ExpectRegion(img, 2, 2, w / 2 - 4, h / 2 - 4, kRed);
  ExpectRegion(img, w / 2 + 2, 2, w / 2 - 4, h / 2 - 4, kGreen);
  ExpectRegion(img, 2, h / 2 + 2, w / 2 - 4, h / 2 - 4, kBlue);
  ExpectRegion(img, w / 2 + 2, h / 2 + 2, w / 2 - 4, h / 2 - 4, kYellow);
}

common::Error MustFail(const std::string& src, const TransformSpec& spec,
                       const PipelineLimits& limits = PipelineLimits{}) {
  auto r = Process(src, spec, limits);
  EXPECT_FALSE(r.has_value());
  return r ? common::Error{ErrorCode::kInternal, "succeeded"} : r.error();
}

// --- Sizing: min-width, min-height, zoom ---

TEST(OptionMinSize, MinWidthEnlargesEvenWithoutEnlarge) {
  TransformSpec spec;
  spec.format = ImageFormat::kPng;
  spec.min_width = 600;
  const auto out = MustProcess(Png(Quadrants(400, 200)), spec);
  EXPECT_EQ(out.width, 600);
  EXPECT_EQ(out.height, 300);
  ExpectQuadrants(Decode(out.bytes));
}

TEST(OptionMinSize, WithWidthTheResultIsCroppedToWidth) {
  // imgproxy's documented quirk: fit gives 100×50, min-width scales to 150×75, and the result is
  // then cropped to the requested width.
  TransformSpec spec = Resize(ResizingType::kFit, 100, 100);
  spec.min_width = 150;
  const auto out = MustProcess(Png(Quadrants(400, 200)), spec);
  EXPECT_EQ(out.width, 100);
  EXPECT_EQ(out.height, 75);
}

TEST(OptionMinSize, MinHeight) {
  TransformSpec spec;
  spec.format = ImageFormat::kPng;
  spec.min_height = 300;
  const auto out = MustProcess(Png(Quadrants(400, 200)), spec);
  EXPECT_EQ(out.width, 600);
  EXPECT_EQ(out.height, 300);
}

TEST(OptionZoom, MultipliesTheResult) {
  TransformSpec spec = Resize(ResizingType::kFit, 100, 0);
  spec.zoom_x = spec.zoom_y = 2;
  const auto out = MustProcess(Png(Quadrants(400, 200)), spec);
  EXPECT_EQ(out.width, 200);
  EXPECT_EQ(out.height, 100);
  ExpectQuadrants(Decode(out.bytes));
}

TEST(OptionZoom, PerAxisWithoutSize) {
  TransformSpec spec;
  spec.format = ImageFormat::kPng;
  spec.zoom_x = 0.5;
  spec.zoom_y = 0.25;
  const auto out = MustProcess(Png(Quadrants(400, 200)), spec);
  EXPECT_EQ(out.width, 200);
  EXPECT_EQ(out.height, 50);
}

// --- Canvas: extend_aspect_ratio, padding ---

TEST(OptionExtendAspectRatio, PadsToTheRequestedRatio) {
  TransformSpec spec = Resize(ResizingType::kFit, 100, 100);
  spec.extend_aspect_ratio = true;
  spec.background = Rgb{0, 0, 0};
  const auto out = MustProcess(Png(Solid(200, 100, kRed)), spec);
  EXPECT_EQ(out.width, 100);
  EXPECT_EQ(out.height, 100);
  const VImage img = Decode(out.bytes);
  ExpectRegion(img, 0, 0, 100, 20, kBlack);
  ExpectRegion(img, 0, 30, 100, 40, kRed);
  ExpectRegion(img, 0, 80, 100, 20, kBlack);
}

TEST(OptionExtendAspectRatio, GravityAndNoEnlargement) {
  // fit keeps the source's 200×100 (no enlarge); the canvas grows to 4:1 → 400×100, image west.
  TransformSpec spec = Resize(ResizingType::kFit, 800, 200);
  spec.extend_aspect_ratio = true;
  spec.extend_aspect_ratio_gravity = {GravityType::kWest, 0, 0};
  const auto out = MustProcess(Png(Solid(200, 100, kRed)), spec);
  EXPECT_EQ(out.width, 400);
  EXPECT_EQ(out.height, 100);
  const VImage img = Decode(out.bytes);
  ASSERT_EQ(img.bands(), 4);
  ExpectRegion(img, 0, 0, 200, 100, kRed);
  EXPECT_EQ(img.extract_area(200, 0, 200, 100).extract_band(3).max(), 0);  // transparent
}

TEST(OptionPadding, CssOrderBackgroundAndDpr) {
  TransformSpec spec;
  spec.format = ImageFormat::kPng;
  spec.padding = {10, 20, 30, 40};
  spec.background = Rgb{0, 0, 255};
  const auto out = MustProcess(Png(Solid(50, 50, kRed)), spec);
  EXPECT_EQ(out.width, 50 + 20 + 40);
  EXPECT_EQ(out.height, 50 + 10 + 30);
  const VImage img = Decode(out.bytes);
  ExpectRegion(img, 40, 10, 50, 50, kRed, 1);
  ExpectRegion(img, 0, 0, 40, 90, kBlue, 1);
  ExpectRegion(img, 90, 0, 20, 90, kBlue, 1);
  ExpectRegion(img, 40, 0, 50, 10, kBlue, 1);
  ExpectRegion(img, 40, 60, 50, 30, kBlue, 1);

  spec.dpr = 2;
  spec.width = 25;  // ×2 = the source's 50
  const auto hidpi = MustProcess(Png(Solid(50, 50, kRed)), spec);
  EXPECT_EQ(hidpi.width, 50 + 40 + 80);
  EXPECT_EQ(hidpi.height, 50 + 20 + 60);
}

TEST(OptionPadding, TransparentWithoutBackgroundWhiteForJpeg) {
  TransformSpec spec;
  spec.format = ImageFormat::kPng;
  spec.padding = {5, 5, 5, 5};
  VImage png = Decode(MustProcess(Png(Solid(20, 20, kRed)), spec).bytes);
  ASSERT_EQ(png.bands(), 4);
  EXPECT_EQ(png.extract_area(0, 0, 30, 5).extract_band(3).max(), 0);
  spec.format = ImageFormat::kJpeg;
  VImage jpeg = Decode(MustProcess(Png(Solid(20, 20, kRed)), spec).bytes);
  ExpectRegion(jpeg, 0, 0, 30, 3, kWhite);
}

// --- Trim ---

TEST(OptionTrim, RemovesUniformBorder) {
  const VImage src = Solid(100, 100, kWhite).insert(Solid(40, 20, kRed), 30, 40);
  TransformSpec spec;
  spec.format = ImageFormat::kPng;
  spec.trim = Trim{};
  const auto out = MustProcess(Png(src), spec);
  EXPECT_EQ(out.width, 40);
  EXPECT_EQ(out.height, 20);
  ExpectRegion(Decode(out.bytes), 0, 0, 40, 20, kRed, 1);
}

TEST(OptionTrim, ColourAndEqualSides) {
  // Blue border with a white patch in the corner: trimming white would find nothing to cut.
  const VImage src = Solid(100, 100, kBlue).insert(Solid(40, 20, kRed), 10, 40);
  TransformSpec spec;
  spec.format = ImageFormat::kPng;
  spec.trim = Trim{.threshold = 10, .colour = Rgb{0, 0, 255}};
  EXPECT_EQ(MustProcess(Png(src), spec).width, 40);
  spec.trim->equal_horizontal = true;  // 10 px left, 50 px right → cut 10 on each side
  const auto out = MustProcess(Png(src), spec);
  EXPECT_EQ(out.width, 80);
  EXPECT_EQ(out.height, 20);
}

TEST(OptionTrim, ThenResize) {
  const VImage src = Solid(300, 300, kWhite).insert(Quadrants(200, 100), 50, 100);
  TransformSpec spec = Resize(ResizingType::kFit, 100, 100);
  spec.trim = Trim{};
  const auto out = MustProcess(Jpeg(src), spec);
  EXPECT_EQ(out.width, 100);
  EXPECT_EQ(out.height, 50);
  ExpectQuadrants(Decode(out.bytes));
}

// --- Pixelate ---

TEST(OptionPixelate, BlocksAreFlatAndAverageTheSource) {
  const std::string png = Png(Noise(64, 64));
  const VImage source = Decode(png);  // noise is regenerated on every evaluation
  TransformSpec spec;
  spec.format = ImageFormat::kPng;
  spec.pixelate = 8;
  const VImage img = Decode(MustProcess(png, spec).bytes);
  ASSERT_EQ(img.width(), 64);
  for (int by = 0; by < 64; by += 8) {
    for (int bx = 0; bx < 64; bx += 8) {
      for (int band = 0; band < 3; ++band) {
        const VImage block = img.extract_area(bx, by, 8, 8).extract_band(band);
        EXPECT_LT(block.deviate(), 1) << bx << "," << by;
        EXPECT_NEAR(block.avg(), source.extract_area(bx, by, 8, 8).extract_band(band).avg(), 1);
      }
    }
  }
}

// --- Watermark ---

PipelineLimits WithWatermark(const VImage& mark) {
  PipelineLimits limits;
  limits.watermark_data = Png(mark);
  return limits;
}

TEST(OptionWatermark, PositionOpacityScaleReplicate) {
  const PipelineLimits limits = WithWatermark(Solid(10, 10, kBlue));
  EXPECT_TRUE(limits.Validate());
  const std::string src = Png(Solid(100, 100, kWhite));
  TransformSpec spec;
  spec.format = ImageFormat::kPng;

  spec.watermark = Watermark{.opacity = 1, .position = {GravityType::kSouthEast, 0, 0}};
  VImage img = Decode(MustProcess(src, spec, limits).bytes);
  ExpectRegion(img, 90, 90, 10, 10, kBlue, 1);
  ExpectRegion(img, 0, 0, 90, 90, kWhite, 1);

  spec.watermark = Watermark{.opacity = 0.5, .position = {GravityType::kNorthWest, 5, 5}};
  img = Decode(MustProcess(src, spec, limits).bytes);
  ExpectRegion(img, 5, 5, 10, 10, {127.5, 127.5, 255}, 2);
  ExpectRegion(img, 0, 0, 5, 100, kWhite, 1);

  spec.watermark =
      Watermark{.opacity = 1, .position = {GravityType::kNorthWest, 0, 0}, .scale = 0.5};
  img = Decode(MustProcess(src, spec, limits).bytes);
  ExpectRegion(img, 0, 0, 50, 50, kBlue, 1);
  ExpectRegion(img, 50, 50, 50, 50, kWhite, 1);

  spec.watermark = Watermark{.opacity = 1, .replicate = true};
  img = Decode(MustProcess(Png(Solid(100, 100, kWhite)), spec, limits).bytes);
  ExpectRegion(img, 0, 0, 100, 100, kBlue, 1);
}

TEST(OptionWatermark, KeepsJpegOpaqueAndNeedsConfig) {
  TransformSpec spec;
  spec.format = ImageFormat::kJpeg;
  spec.watermark = Watermark{.opacity = 1, .position = {GravityType::kCenter, 0, 0}};
  const auto out =
      MustProcess(Jpeg(Solid(60, 60, kWhite)), spec, WithWatermark(Solid(20, 20, kRed)));
  const VImage img = Decode(out.bytes);
  EXPECT_EQ(img.bands(), 3);
  ExpectRegion(img, 22, 22, 16, 16, kRed);
  const auto error = MustFail(Jpeg(Solid(60, 60, kWhite)), spec);
  EXPECT_EQ(error.code, ErrorCode::kInvalidArgument);
  EXPECT_NE(error.message.find("no watermark configured"), std::string::npos);
}

// --- Metadata and colour profiles ---

TEST(OptionKeepCopyright, KeepsOnlyTheCopyright) {
  VImage img = Quadrants(64, 64).copy();
  img.set("exif-ifd0-Copyright", "ACME");
  img.set("exif-ifd0-Artist", "someone");
  const std::string src = Jpeg(img);
  TransformSpec spec;
  spec.format = ImageFormat::kJpeg;
  VImage out = Decode(MustProcess(src, spec).bytes);
  ASSERT_NE(out.get_typeof("exif-ifd0-Copyright"), 0u);
  EXPECT_EQ(std::string(out.get_string("exif-ifd0-Copyright")).rfind("ACME", 0), 0u);
  EXPECT_EQ(out.get_typeof("exif-ifd0-Artist"), 0u);
  spec.keep_copyright = false;
  out = Decode(MustProcess(src, spec).bytes);
  EXPECT_EQ(out.get_typeof(VIPS_META_EXIF_NAME), 0u);
}

TEST(OptionStripColorProfile, ConvertsToSrgbOrKeepsTheProfile) {
  // Pure sRGB red stored in Display P3: the pixel values differ, the colour does not.
  const VImage p3 =
      Solid(32, 32, kRed).icc_transform("p3", VImage::option()->set("input_profile", "srgb"));
  ASSERT_NE(p3.get_typeof(VIPS_META_ICC_NAME), 0u);
  const std::string src = Png(p3);
  const VImage stored = Decode(src);
  ASSERT_LT(stored.extract_band(0).avg(), 245);  // really not sRGB numbers

  TransformSpec spec;
  spec.format = ImageFormat::kPng;
  VImage out = Decode(MustProcess(src, spec).bytes);
  EXPECT_EQ(out.get_typeof(VIPS_META_ICC_NAME), 0u);
  ExpectRegion(out, 0, 0, 32, 32, kRed, 3);

  spec.strip_color_profile = false;
  out = Decode(MustProcess(src, spec).bytes);
  EXPECT_NE(out.get_typeof(VIPS_META_ICC_NAME), 0u);
  EXPECT_NEAR(out.extract_band(0).avg(), stored.extract_band(0).avg(), 1);
}

TEST(Correctness, PngAlphaKeepsColoursInWebpAndFlattensInJpeg) {
  const VImage rgba = Solid(40, 40, kGreen)
                          .bandjoin_const({128})
                          .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
  TransformSpec spec;
  spec.format = ImageFormat::kWebp;
  spec.quality = 90;
  VImage out = Decode(MustProcess(Png(rgba), spec).bytes);
  ASSERT_EQ(out.bands(), 4);
  ExpectRegion(out, 0, 0, 40, 40, kGreen);
  EXPECT_NEAR(out.extract_band(3).avg(), 128, 3);
  spec.format = ImageFormat::kJpeg;
  out = Decode(MustProcess(Png(rgba), spec).bytes);
  ASSERT_EQ(out.bands(), 3);
  ExpectRegion(out, 0, 0, 40, 40, {127, 255, 127});  // half green over white
}

TEST(Correctness, CmykJpegComesOutInSrgbColours) {
  const VImage cmyk =
      Solid(32, 32, kBlue).icc_transform("cmyk", VImage::option()->set("input_profile", "srgb"));
  ASSERT_EQ(cmyk.bands(), 4);
  TransformSpec spec;
  spec.format = ImageFormat::kPng;
  const VImage out = Decode(MustProcess(Jpeg(cmyk), spec).bytes);
  ASSERT_EQ(out.bands(), 3);
  // CMYK cannot reach sRGB's pure blue; the round trip lands on its nearest printable blue.
  // (libvips 8.14 and 8.17 land a few levels apart.)
  EXPECT_LT(out.extract_band(0).avg(), 80);
  EXPECT_LT(out.extract_band(1).avg(), 90);
  EXPECT_GT(out.extract_band(2).avg(), 130);
}

TEST(Correctness, EveryExifOrientationComesOutUpright) {
  const VImage upright = Quadrants(80, 40);
  // What the camera stored for each tag, so that applying the tag gives `upright`.
  const VImage stored[] = {
      upright,
      upright.flip(VIPS_DIRECTION_HORIZONTAL),
      upright.rot180(),
      upright.flip(VIPS_DIRECTION_VERTICAL),
      upright.rot90().flip(VIPS_DIRECTION_HORIZONTAL),  // transpose
      upright.rot270(),
      upright.rot90().flip(VIPS_DIRECTION_VERTICAL),  // transverse
      upright.rot90(),
  };
  for (int orientation = 1; orientation <= 8; ++orientation) {
    VImage img = stored[orientation - 1].copy();
    img.set(VIPS_META_ORIENTATION, orientation);
    TransformSpec spec;
    spec.format = ImageFormat::kPng;
    const auto out = MustProcess(Jpeg(img), spec);
    SCOPED_TRACE("orientation " + std::to_string(orientation));
    EXPECT_EQ(out.width, 80);
    EXPECT_EQ(out.height, 40);
    const VImage result = Decode(out.bytes);
    ExpectQuadrants(result);
    EXPECT_EQ(result.get_typeof(VIPS_META_ORIENTATION), 0u);
  }
}

TEST(Correctness, GreyAndSixteenBitInputs) {
  const VImage grey = Solid(30, 30, {100, 100, 100}).colourspace(VIPS_INTERPRETATION_B_W);
  ASSERT_EQ(grey.bands(), 1);
  TransformSpec spec;
  spec.format = ImageFormat::kWebp;
  const VImage out = Decode(MustProcess(Png(grey), spec).bytes);
  ExpectRegion(out.bands() == 1 ? out.bandjoin({out, out}) : out, 0, 0, 30, 30, {100, 100, 100});
  const VImage grey16 = grey.cast(VIPS_FORMAT_USHORT) * 257;
  const VImage out16 = Decode(
      MustProcess(
          Png(grey16.cast(VIPS_FORMAT_USHORT)
                  .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_GREY16))),
          spec)
          .bytes);
  EXPECT_NEAR(out16.extract_band(0).avg(), 100, 3);
}

TEST(Correctness, VeryWideAndVeryTall) {
  TransformSpec spec = Resize(ResizingType::kFit, 100, 100);
  auto out = MustProcess(Png(Solid(10000, 10, kRed)), spec);
  EXPECT_EQ(out.width, 100);
  EXPECT_EQ(out.height, 1);
  out = MustProcess(Png(Solid(10, 10000, kRed)), spec);
  EXPECT_EQ(out.width, 1);
  EXPECT_EQ(out.height, 100);
}

// --- Quality and size: format_quality, max_bytes ---

TEST(OptionFormatQuality, AppliesToItsFormatOnly) {
  const std::string src = Png(Noise(128, 128));
  TransformSpec spec;
  spec.format = ImageFormat::kJpeg;
  const size_t normal = MustProcess(src, spec).bytes.size();
  spec.format_quality = {{ImageFormat::kJpeg, 20}};
  EXPECT_LT(MustProcess(src, spec).bytes.size(), normal * 3 / 4);
  spec.format_quality = {{ImageFormat::kWebp, 20}};
  EXPECT_EQ(MustProcess(src, spec).bytes.size(), normal);
}

TEST(OptionMaxBytes, LowersQualityUntilItFits) {
  const std::string src = Png(Noise(256, 256));
  for (const ImageFormat format : {ImageFormat::kJpeg, ImageFormat::kWebp}) {
    TransformSpec spec;
    spec.format = format;
    const size_t normal = MustProcess(src, spec).bytes.size();
    spec.max_bytes = static_cast<int64_t>(normal / 2);
    const auto out = MustProcess(src, spec);
    EXPECT_LE(out.bytes.size(), normal / 2) << FormatExtension(format);
    EXPECT_EQ(Decode(out.bytes).width(), 256);
  }
  // PNG has no quality to lower: the option changes nothing.
  TransformSpec png;
  png.format = ImageFormat::kPng;
  const size_t size = MustProcess(src, png).bytes.size();
  png.max_bytes = 100;
  EXPECT_EQ(MustProcess(src, png).bytes.size(), size);
}

// --- skip_processing, raw, enforce_thumbnail ---

TEST(OptionSkipProcessing, ServesListedFormatsUntouched) {
  const std::string gif = Blob(Quadrants(40, 40).gifsave_buffer());
  TransformSpec spec = Resize(ResizingType::kFit, 10, 10);
  spec.format = ImageFormat::kUnknown;
  spec.skip_processing = {ImageFormat::kGif};
  const auto out = MustProcess(gif, spec);
  EXPECT_EQ(out.bytes, gif);
  EXPECT_EQ(out.format, ImageFormat::kGif);
  EXPECT_EQ(out.width, 40);
  // Another output format was asked for: processed as usual.
  spec.format = ImageFormat::kPng;
  EXPECT_EQ(MustProcess(gif, spec).width, 10);
  // Not listed: processed.
  spec.format = ImageFormat::kUnknown;
  EXPECT_EQ(MustProcess(Png(Quadrants(40, 40)), spec).width, 10);
}

TEST(OptionRaw, ReturnsTheSourceBytes) {
  const std::string jpeg = Jpeg(Quadrants(40, 40));
  TransformSpec spec = Resize(ResizingType::kFit, 10, 10);
  spec.raw = true;
  const auto out = MustProcess(jpeg, spec);
  EXPECT_EQ(out.bytes, jpeg);
  EXPECT_EQ(out.format, ImageFormat::kJpeg);
}

TEST(OptionEnforceThumbnail, FallsBackToTheMainImage) {
  if (!CanEncode(ImageFormat::kAvif)) GTEST_SKIP() << "no AVIF encoder in this build";
  const std::string avif = Blob(Quadrants(64, 64).heifsave_buffer(
      VImage::option()->set("compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1)));
  TransformSpec spec = Resize(ResizingType::kFit, 32, 32);
  spec.enforce_thumbnail = true;
  const auto out = MustProcess(avif, spec);
  EXPECT_EQ(out.width, 32);
  ExpectQuadrants(Decode(out.bytes));
}

// --- Formats ---

TEST(Formats, JpegProgressiveIsAConfigSwitch) {
  const std::string src = Png(Noise(64, 64));
  TransformSpec spec;
  spec.format = ImageFormat::kJpeg;
  PipelineLimits limits;
  EXPECT_EQ(Decode(MustProcess(src, spec, limits).bytes).get_typeof("interlaced"), 0u);
  limits.jpeg_progressive = true;
  const VImage out = Decode(MustProcess(src, spec, limits).bytes);
  ASSERT_NE(out.get_typeof("interlaced"), 0u);
  EXPECT_EQ(out.get_int("interlaced"), 1);
}

TEST(Formats, JpegXlInAndOut) {
  TransformSpec spec = Resize(ResizingType::kFit, 40, 40);
  spec.format = ImageFormat::kJxl;
  spec.quality = 95;
  if (!CanEncode(ImageFormat::kJxl)) {
    // The npm libvips (sharp's build) has no libjxl: asking for it is a clear 415.
    auto r = Process(Png(Quadrants(80, 80)), spec, PipelineLimits{});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kUnsupported);
    EXPECT_EQ(r.error().message, "jxl output is not available in this build");
    return;
  }
  const auto jxl = MustProcess(Png(Quadrants(80, 80)), spec);
  EXPECT_EQ(jxl.format, ImageFormat::kJxl);
  EXPECT_EQ(SniffFormat(jxl.bytes), ImageFormat::kJxl);
  spec.format = ImageFormat::kPng;
  const auto png = MustProcess(jxl.bytes, spec);
  ExpectQuadrants(Decode(png.bytes));
}

TEST(Formats, TiffAndAvifIn) {
  TransformSpec spec = Resize(ResizingType::kFit, 32, 32);
  const std::string tiff = Blob(Quadrants(64, 64).tiffsave_buffer());
  ExpectQuadrants(Decode(MustProcess(tiff, spec).bytes));
  if (CanEncode(ImageFormat::kAvif)) {
    const std::string avif = Blob(Quadrants(64, 64).heifsave_buffer(
        VImage::option()->set("compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1)->set("Q", 90)));
    ExpectQuadrants(Decode(MustProcess(avif, spec).bytes));
  }
}

TEST(Formats, SvgIsRenderedOnlyWhenSelfContained) {
  TransformSpec spec = Resize(ResizingType::kFit, 20, 20);
  const std::string ok = R"(<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">)"
                         R"(<rect width="10" height="10" fill="#ff0000"/></svg>)";
  ExpectRegion(Decode(MustProcess(ok, spec).bytes), 2, 2, 16, 16, kRed);
  const std::string external =
      R"(<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" )"
      R"(width="10" height="10"><image xlink:href="http://127.0.0.1:9/x.png" width="10" )"
      R"(height="10"/></svg>)";
  const auto error = MustFail(external, spec);
  EXPECT_EQ(error.code, ErrorCode::kUnsupported);
  EXPECT_NE(error.message.find("external resource"), std::string::npos);
}

// --- Animation ---

std::string AnimatedGif(const std::vector<Colour>& colours, const std::vector<int>& delays) {
  std::vector<VImage> frames;
  for (const Colour& c : colours) frames.push_back(Solid(20, 20, c));
  VImage strip = VImage::arrayjoin(frames, VImage::option()->set("across", 1)).copy();
  strip.set(VIPS_META_PAGE_HEIGHT, 20);
  strip.set("delay", delays);
  strip.set("loop", 3);
  return Blob(strip.gifsave_buffer());
}

TEST(Animation, GifToWebpKeepsFramesDelaysAndLoop) {
  const std::string gif = AnimatedGif({kRed, kGreen, kBlue}, {100, 200, 300});
  TransformSpec spec = Resize(ResizingType::kFit, 10, 10);
  spec.format = ImageFormat::kWebp;
  spec.quality = 90;
  const auto out = MustProcess(gif, spec);
  EXPECT_EQ(out.format, ImageFormat::kWebp);
  EXPECT_EQ(out.width, 10);
  EXPECT_EQ(out.height, 10);
  const VImage webp = Decode(out.bytes, VImage::option()->set("n", -1));
  EXPECT_EQ(webp.get_int(VIPS_META_N_PAGES), 3);
  EXPECT_EQ(webp.get_int(VIPS_META_PAGE_HEIGHT), 10);
  EXPECT_EQ(webp.get_array_int("delay"), (std::vector<int>{100, 200, 300}));
  EXPECT_EQ(webp.get_int("loop"), 3);
  ExpectRegion(webp, 0, 0, 10, 10, kRed);
  ExpectRegion(webp, 0, 10, 10, 10, kGreen);
  ExpectRegion(webp, 0, 20, 10, 10, kBlue);
}

TEST(Animation, GifStaysAnimatedGifByDefault) {
  const std::string gif = AnimatedGif({kRed, kBlue}, {50, 70});
  TransformSpec spec;
  const auto out = MustProcess(gif, spec);
  EXPECT_EQ(out.format, ImageFormat::kGif);
  const VImage decoded = Decode(out.bytes, VImage::option()->set("n", -1));
  EXPECT_EQ(decoded.get_int(VIPS_META_N_PAGES), 2);
  EXPECT_EQ(decoded.get_array_int("delay"), (std::vector<int>{50, 70}));
}

TEST(Animation, OverTheFrameLimitOnlyTheFirstFrame) {
  const std::string gif = AnimatedGif({kRed, kGreen, kBlue}, {100, 100, 100});
  PipelineLimits limits;
  limits.max_animation_frames = 2;
  TransformSpec spec;
  spec.format = ImageFormat::kWebp;
  const auto out = MustProcess(gif, spec, limits);
  const VImage webp = Decode(out.bytes, VImage::option()->set("n", -1));
  EXPECT_EQ(webp.height(), 20);
  ExpectRegion(webp, 0, 0, 20, 20, kRed);
}

TEST(Animation, NegotiatedFormatThatCannotAnimateFallsBackToWebp) {
  const std::string gif = AnimatedGif({kRed, kGreen}, {100, 100});
  TransformSpec spec;
  spec.format = ImageFormat::kPng;
  spec.auto_format = true;
  const auto out = MustProcess(gif, spec);
  EXPECT_EQ(out.format, ImageFormat::kWebp);
  // Named in the URL: the user asked for a still PNG.
  spec.auto_format = false;
  EXPECT_EQ(MustProcess(gif, spec).format, ImageFormat::kPng);
}

TEST(AutoFormat, UnknownFallsBackToAUniversalFormat) {
  TransformSpec spec;
  spec.auto_format = true;
  // A WebP source for a client that did not list WebP: JPEG (no alpha), PNG (alpha).
  const std::string webp = Blob(Quadrants(20, 20).webpsave_buffer());
  EXPECT_EQ(MustProcess(webp, spec).format, ImageFormat::kJpeg);
  const std::string webp_alpha = Blob(Quadrants(20, 20).bandjoin_const({128}).webpsave_buffer());
  EXPECT_EQ(MustProcess(webp_alpha, spec).format, ImageFormat::kPng);
  EXPECT_EQ(MustProcess(Jpeg(Quadrants(20, 20)), spec).format, ImageFormat::kJpeg);
}

// --- Bad input: 415/422 with a message, never a crash ---

TEST(BadInput, UndecodableTruncatedAndWrongExtension) {
  const TransformSpec spec = Resize(ResizingType::kFit, 10, 10);
  struct Case {
    std::string name;
    std::string bytes;
    ErrorCode code;
  };
  const std::string jpeg = Jpeg(Noise(200, 200));
  const std::string png = Png(Noise(200, 200));
  const std::string webp = Blob(Noise(200, 200).webpsave_buffer());
  const std::string gif = Blob(Noise(200, 200).gifsave_buffer());
  const Case cases[] = {
      {"empty", "", ErrorCode::kUnsupported},
      {"html named .jpg", "<!doctype html><html><body>hi</body></html>",
       ErrorCode::kUnsupported},
      {"jpeg magic only", "\xFF\xD8\xFF", ErrorCode::kInvalidImage},
      {"png signature only", std::string("\x89PNG\r\n\x1A\n", 8), ErrorCode::kInvalidImage},
      {"truncated jpeg", jpeg.substr(0, jpeg.size() / 2), ErrorCode::kInvalidImage},
      {"truncated png", png.substr(0, png.size() / 2), ErrorCode::kInvalidImage},
      {"truncated webp", webp.substr(0, webp.size() / 2), ErrorCode::kInvalidImage},
      {"truncated gif", gif.substr(0, gif.size() / 2), ErrorCode::kInvalidImage},
      {"corrupt jpeg body", jpeg.substr(0, 200) + std::string(2000, '\x55'),
       ErrorCode::kInvalidImage},
  };
  for (const Case& c : cases) {
    auto r = Process(c.bytes, spec, PipelineLimits{});
    ASSERT_FALSE(r.has_value()) << c.name;
    EXPECT_EQ(r.error().code, c.code) << c.name << ": " << r.error().message;
    EXPECT_FALSE(r.error().message.empty());
    EXPECT_EQ(r.error().message.find("vips"), std::string::npos) << r.error().message;
  }
  // A PNG behind a ".jpg" name is sniffed, not trusted by its name: it just works.
  EXPECT_EQ(MustProcess(png, spec).width, 10);
}

}  // namespace
}  // namespace imgorigin::transforms
