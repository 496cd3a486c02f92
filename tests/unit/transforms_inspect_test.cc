// BlurHash known answers and Inspect() (the /info endpoint's data).
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>
#include <vips/vips8>

#include "transforms/blurhash.h"
#include "transforms/inspect.h"

namespace imgorigin::transforms {
namespace {

using common::ErrorCode;
using vips::VImage;

class VipsEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { InitVips("transforms_inspect_test"); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new VipsEnvironment);

// Expected strings come from the reference implementation (npm "blurhash" 2.0.5, woltapp's
// TypeScript encoder) run on the same pixels; the black one is also the widely published hash of
// a black image.
template <typename Pixel>
std::vector<uint8_t> Pixels(int w, int h, Pixel pixel) {
  std::vector<uint8_t> rgb;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const auto [r, g, b] = pixel(x, y);
      rgb.push_back(static_cast<uint8_t>(r));
      rgb.push_back(static_cast<uint8_t>(g));
      rgb.push_back(static_cast<uint8_t>(b));
    }
  }
  return rgb;
}

TEST(Blurhash, MatchesTheReferenceImplementation) {
  const std::vector<uint8_t> warm = Pixels(8, 6, [](int x, int y) {
    return std::array<int, 3>{255 - x * 30, 60 + y * 30, 128};
  });
  EXPECT_EQ(EncodeBlurhash(warm, 8, 6, 4, 3), "L~JaGx}F,Y$*z{wMsUnleqf7fQf7");
  // The npm encoder takes the largest AC term without abs() (its hash here would be
  // "LDF=al3tWk^+_O9#b0rFd;e[fSe."); BlurHash's Algorithm.md and the C encoder use the largest
  // magnitude, as this one does, so a dominant negative term is not clipped. This answer is the
  // npm encoder with that one line changed.
  const std::vector<uint8_t> gradient = Pixels(8, 6, [](int x, int y) {
    return std::array<int, 3>{(x * 32) % 256, (y * 40) % 256, ((x + y) * 20) % 256};
  });
  EXPECT_EQ(EncodeBlurhash(gradient, 8, 6, 4, 3), "LjF=al30a^xuzENKfSnPemf9fRf6");
  EXPECT_EQ(EncodeBlurhash(gradient, 8, 6, 1, 1), "00F=al");
  EXPECT_EQ(EncodeBlurhash(std::vector<uint8_t>(8 * 6 * 3, 0), 8, 6),
            "L00000fQfQfQfQfQfQfQfQfQfQfQ");
  // Flat white: the AC terms are rounding noise, and the reference's rounding is reproduced.
  EXPECT_EQ(EncodeBlurhash(std::vector<uint8_t>(8 * 6 * 3, 255), 8, 6),
            "LsTSUA_3fQ_3~qt7fQt7fQfQfQfQ");
}

TEST(Blurhash, RejectsBadArguments) {
  const std::vector<uint8_t> rgb(12, 0);
  EXPECT_EQ(EncodeBlurhash(rgb, 0, 0), "");
  EXPECT_EQ(EncodeBlurhash(rgb, 2, 2, 10, 1), "");
  EXPECT_EQ(EncodeBlurhash(rgb, 4, 4), "");  // fewer bytes than pixels
}

std::string Blob(VipsBlob* blob) {
  std::string out(static_cast<const char*>(VIPS_AREA(blob)->data), VIPS_AREA(blob)->length);
  vips_area_unref(VIPS_AREA(blob));
  return out;
}

VImage Solid(int w, int h, std::vector<double> colour) {
  return VImage::black(w, h)
      .new_from_image(colour)
      .cast(VIPS_FORMAT_UCHAR)
      .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

ImageInfo MustInspect(const std::string& bytes) {
  auto r = Inspect(bytes, PipelineLimits{});
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? *r : ImageInfo{};
}

TEST(Inspect, JpegWithOrientation) {
  // 300×100 stored, tag 6: displayed 100×300.
  VImage img = Solid(300, 100, {200, 30, 30}).copy();
  img.set(VIPS_META_ORIENTATION, 6);
  const std::string jpeg = Blob(img.jpegsave_buffer());
  const ImageInfo info = MustInspect(jpeg);
  EXPECT_EQ(info.width, 100);
  EXPECT_EQ(info.height, 300);
  EXPECT_EQ(info.format, ImageFormat::kJpeg);
  EXPECT_EQ(info.bytes, static_cast<int64_t>(jpeg.size()));
  EXPECT_FALSE(info.alpha);
  EXPECT_EQ(info.pages, 1);
  EXPECT_EQ(info.orientation, 6);
  EXPECT_EQ(info.colour_space, "srgb");
  EXPECT_NEAR(info.dominant_colour.r, 200, 6);
  EXPECT_NEAR(info.dominant_colour.g, 30, 6);
  EXPECT_NEAR(info.dominant_colour.b, 30, 6);
  EXPECT_EQ(info.blurhash.size(), 28u);  // 4×3 components
}

TEST(Inspect, BlackImageHasTheBlackHash) {
  const ImageInfo info = MustInspect(Blob(Solid(64, 48, {0, 0, 0}).pngsave_buffer()));
  EXPECT_EQ(info.blurhash, "L00000fQfQfQfQfQfQfQfQfQfQfQ");
}

TEST(Inspect, AlphaPagesAndColourSpaces) {
  const VImage rgba = Solid(40, 40, {0, 0, 255}).bandjoin_const({255});
  const ImageInfo png = MustInspect(
      Blob(rgba.insert(Solid(40, 10, {0, 0, 0}).bandjoin_const({0}), 0, 0).pngsave_buffer()));
  EXPECT_TRUE(png.alpha);
  EXPECT_EQ(png.format, ImageFormat::kPng);
  // The transparent strip does not count towards the dominant colour.
  EXPECT_LE(png.dominant_colour.r + png.dominant_colour.g, 4);
  EXPECT_GE(png.dominant_colour.b, 250);

  // Three different frames: encoders may merge identical consecutive ones (libvips 8.17 does).
  VImage strip = Solid(20, 20, {255, 0, 0})
                     .join(Solid(20, 20, {0, 255, 0}), VIPS_DIRECTION_VERTICAL)
                     .join(Solid(20, 20, {0, 0, 255}), VIPS_DIRECTION_VERTICAL)
                     .copy();
  strip.set(VIPS_META_PAGE_HEIGHT, 20);
  const ImageInfo gif = MustInspect(Blob(strip.gifsave_buffer()));
  EXPECT_EQ(gif.pages, 3);
  EXPECT_EQ(gif.height, 20);

  const VImage cmyk = Solid(16, 16, {0, 0, 255})
                          .icc_transform("cmyk", VImage::option()->set("input_profile", "srgb"));
  EXPECT_EQ(MustInspect(Blob(cmyk.jpegsave_buffer())).colour_space, "cmyk");
  const VImage grey = Solid(16, 16, {90, 90, 90}).colourspace(VIPS_INTERPRETATION_B_W);
  EXPECT_EQ(MustInspect(Blob(grey.pngsave_buffer())).colour_space, "b-w");
}

TEST(Inspect, LargeImageWorkIsBounded) {
  // Only the header and a ≤32 px thumbnail are decoded; the answer still names the full size.
  const ImageInfo info = MustInspect(Blob(Solid(4000, 3000, {10, 200, 10}).jpegsave_buffer()));
  EXPECT_EQ(info.width, 4000);
  EXPECT_EQ(info.height, 3000);
  EXPECT_NEAR(info.dominant_colour.g, 200, 8);
}

TEST(Inspect, Errors) {
  auto r = Inspect("not an image", PipelineLimits{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnsupported);
  const std::string jpeg = Blob(Solid(100, 100, {1, 2, 3}).jpegsave_buffer());
  r = Inspect(jpeg.substr(0, 20), PipelineLimits{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidImage);
  PipelineLimits small;
  small.max_src_pixels = 100;
  r = Inspect(jpeg, small);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTooLarge);
  r = Inspect(R"(<svg xmlns="http://www.w3.org/2000/svg"><image href="http://x/y.png"/></svg>)",
              PipelineLimits{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnsupported);
}

}  // namespace
}  // namespace imgorigin::transforms
