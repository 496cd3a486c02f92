// RenderMany: several specs from one decode give what Process() gives spec by spec (sizes,
// formats, content), share the decode only where the specs allow, and keep Process()'s limits
// and errors.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>
#include <vips/vips8>

#include "common/memory_budget.h"
#include "tests/unit/transforms_test_images.h"
#include "transforms/render_many.h"

namespace imgorigin::transforms {
namespace {

using common::ErrorCode;
using vips::VImage;
using namespace test_images;

class VipsEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { InitVips("transforms_render_many_test"); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new VipsEnvironment);

TransformSpec Fit(int side, ImageFormat format = ImageFormat::kUnknown) {
  TransformSpec spec;
  spec.resizing_type = ResizingType::kFit;
  spec.width = side;
  spec.height = side;
  spec.format = format;
  return spec;
}

// 1600×1200 quadrants as a JPEG: large enough for shrink-on-load by 2, 4 and 8.
const std::string& QuadrantsJpeg() {
  static const std::string bytes = Jpeg(Quadrants(1600, 1200));
  return bytes;
}

void ExpectQuadrants(const EncodedImage& out) {
  const VImage img = Decode(out.bytes);
  const int w = img.width(), h = img.height();
  ExpectRegion(img, w / 8, h / 8, w / 4, h / 4, kRed);
  ExpectRegion(img, w * 5 / 8, h / 8, w / 4, h / 4, kGreen);
  ExpectRegion(img, w / 8, h * 5 / 8, w / 4, h / 4, kBlue);
  ExpectRegion(img, w * 5 / 8, h * 5 / 8, w / 4, h / 4, kYellow);
}

TEST(RenderMany, PresetsFromOneDecodeHaveProcessSizesFormatsAndContent) {
  const std::vector<TransformSpec> specs = {Fit(160), Fit(800, ImageFormat::kWebp), Fit(400)};
  const auto outputs = RenderMany(QuadrantsJpeg(), specs, PipelineLimits{});
  ASSERT_EQ(outputs.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    ASSERT_TRUE(outputs[i].image) << outputs[i].image.error().message;
    EXPECT_TRUE(outputs[i].derived) << i;
    const EncodedImage alone = MustProcess(QuadrantsJpeg(), specs[i]);
    EXPECT_EQ(outputs[i].image->width, alone.width) << i;
    EXPECT_EQ(outputs[i].image->height, alone.height) << i;
    EXPECT_EQ(outputs[i].image->format, alone.format) << i;
    EXPECT_EQ(LoaderFormat(outputs[i].image->bytes), alone.format) << i;
    ExpectQuadrants(*outputs[i].image);
  }
  EXPECT_EQ(outputs[0].image->width, 160);
  EXPECT_EQ(outputs[0].image->height, 120);
  EXPECT_EQ(outputs[1].image->format, ImageFormat::kWebp);
  EXPECT_EQ(outputs[1].image->width, 800);
  EXPECT_EQ(outputs[2].image->format, ImageFormat::kJpeg);  // the source's
}

TEST(RenderMany, DerivedPixelsMatchTheirOwnRender) {
  // Noise shows resampling differences that flat regions hide.
  const std::string source = Png(Noise(1200, 900));
  const std::vector<TransformSpec> specs = {Fit(300, ImageFormat::kPng),
                                            Fit(600, ImageFormat::kPng)};
  const auto outputs = RenderMany(source, specs, PipelineLimits{});
  for (size_t i = 0; i < specs.size(); ++i) {
    ASSERT_TRUE(outputs[i].image) << outputs[i].image.error().message;
    EXPECT_TRUE(outputs[i].derived);
    const VImage many = Decode(outputs[i].image->bytes);
    const VImage alone = Decode(MustProcess(source, specs[i]).bytes);
    ASSERT_EQ(many.width(), alone.width());
    EXPECT_LT(MeanAbsDiff(many, alone), 1.0) << i;  // a PNG source decodes at full size either way
  }
}

TEST(RenderMany, RotationCropAndOrientationApplyPerSpec) {
  VImage oriented = Quadrants(800, 400).copy();
  oriented.set(VIPS_META_ORIENTATION, 6);  // displayed 400×800: blue top-left, red top-right
  const std::string source = Jpeg(oriented);
  TransformSpec rotated = Fit(200, ImageFormat::kPng);
  rotated.rotate = 90;  // on top of the EXIF orientation
  TransformSpec cropped = Fit(300, ImageFormat::kPng);
  cropped.crop = Crop{0.5, 0.5, Gravity{GravityType::kNorthWest}};
  const std::vector<TransformSpec> specs = {Fit(100, ImageFormat::kPng), rotated, cropped};
  const auto outputs = RenderMany(source, specs, PipelineLimits{});
  for (size_t i = 0; i < specs.size(); ++i) {
    ASSERT_TRUE(outputs[i].image) << outputs[i].image.error().message;
    EXPECT_TRUE(outputs[i].derived);
    const EncodedImage alone = MustProcess(source, specs[i]);
    EXPECT_EQ(outputs[i].image->width, alone.width) << i;
    EXPECT_EQ(outputs[i].image->height, alone.height) << i;
    EXPECT_LT(MeanAbsDiff(Decode(outputs[i].image->bytes), Decode(alone.bytes)), 4.0) << i;
  }
  EXPECT_EQ(outputs[0].image->width, 50);  // upright: EXIF orientation 6 was applied
  EXPECT_EQ(outputs[0].image->height, 100);
  ExpectRegion(Decode(outputs[2].image->bytes), 10, 10, 40, 40, kBlue);  // the top-left quarter
}

TEST(RenderMany, TrimAndLoneDecodesRenderOnTheirOwn) {
  TransformSpec trimmed = Fit(200, ImageFormat::kPng);
  trimmed.trim = Trim{};
  TransformSpec stripped = Fit(200, ImageFormat::kPng);
  stripped.strip_color_profile = !stripped.strip_color_profile;  // a decode of its own
  const std::vector<TransformSpec> specs = {Fit(100), trimmed, Fit(300), stripped};
  const auto outputs = RenderMany(QuadrantsJpeg(), specs, PipelineLimits{});
  for (const auto& output : outputs) ASSERT_TRUE(output.image) << output.image.error().message;
  EXPECT_TRUE(outputs[0].derived);
  EXPECT_FALSE(outputs[1].derived);
  EXPECT_TRUE(outputs[2].derived);
  EXPECT_FALSE(outputs[3].derived);
  EXPECT_EQ(outputs[1].image->width, 200);
  EXPECT_EQ(outputs[3].image->width, 200);
}

TEST(RenderMany, UndecodableSourceFailsEverySpec) {
  const std::string truncated = QuadrantsJpeg().substr(0, QuadrantsJpeg().size() / 2);
  const std::vector<TransformSpec> specs = {Fit(100), Fit(200), Fit(300)};
  for (const auto& output : RenderMany(truncated, specs, PipelineLimits{})) {
    ASSERT_FALSE(output.image);
    EXPECT_EQ(output.image.error().code, ErrorCode::kInvalidImage);
  }
  for (const auto& output : RenderMany("not an image", specs, PipelineLimits{})) {
    ASSERT_FALSE(output.image);
    EXPECT_EQ(output.image.error().code, ErrorCode::kUnsupported);
  }
}

TEST(RenderMany, PixelLimitAndResultLimitsHoldPerSpec) {
  PipelineLimits limits;
  limits.max_result_dimension = 500;
  const std::vector<TransformSpec> specs = {Fit(200), Fit(800), Fit(400)};
  auto outputs = RenderMany(QuadrantsJpeg(), specs, limits);
  ASSERT_TRUE(outputs[0].image);
  ASSERT_FALSE(outputs[1].image);
  EXPECT_EQ(outputs[1].image.error().code, ErrorCode::kInvalidArgument);
  ASSERT_TRUE(outputs[2].image);
  EXPECT_EQ(outputs[2].image->width, 400);

  limits.max_src_pixels = 1000;
  for (const auto& output : RenderMany(QuadrantsJpeg(), specs, limits)) {
    ASSERT_FALSE(output.image);
    EXPECT_EQ(output.image.error().code, ErrorCode::kTooLarge);
  }
}

TEST(RenderMany, SharedDecodeReservesFromTheBudgetAndReleasesIt) {
  PipelineLimits limits;
  limits.memory_budget = std::make_shared<common::MemoryBudget>(int64_t{1} << 30);
  const std::vector<TransformSpec> specs = {Fit(1600), Fit(200)};
  const auto outputs = RenderMany(QuadrantsJpeg(), specs, limits);
  ASSERT_TRUE(outputs[0].image && outputs[1].image);
  // The decode at full size (1600×1200×3, held whole) was reserved, and all of it given back.
  EXPECT_GT(limits.memory_budget->peak(), int64_t{1600} * 1200 * 3);
  EXPECT_EQ(limits.memory_budget->in_use(), 0);

  limits.memory_budget = std::make_shared<common::MemoryBudget>(int64_t{8} << 20);
  for (const auto& output : RenderMany(QuadrantsJpeg(), specs, limits)) {
    ASSERT_FALSE(output.image);
    EXPECT_EQ(output.image.error().code, ErrorCode::kTooLarge);
  }
}

TEST(RenderMany, TimeoutStopsTheSharedWork) {
  PipelineLimits limits;
  limits.timeout = std::chrono::milliseconds(1);
  const std::string source = Png(Noise(1500, 1500));
  const std::vector<TransformSpec> specs = {Fit(1400, ImageFormat::kPng),
                                            Fit(700, ImageFormat::kPng)};
  for (const auto& output : RenderMany(source, specs, limits)) {
    ASSERT_FALSE(output.image);
    EXPECT_EQ(output.image.error().code, ErrorCode::kDeadlineExceeded);
  }
}

}  // namespace
}  // namespace imgorigin::transforms
