#include <gtest/gtest.h>

#include <string>

#include "transforms/spec.h"

namespace imgorigin::transforms {
namespace {

TEST(TransformSpecCanonical, DefaultSpecIsEmpty) { EXPECT_EQ(TransformSpec{}.Canonical(), ""); }

TEST(TransformSpecCanonical, HeaderExample) {
  TransformSpec spec;
  spec.resizing_type = ResizingType::kFill;
  spec.width = 300;
  spec.height = 400;
  spec.gravity.type = GravityType::kSmart;
  spec.quality = 80;
  spec.format = ImageFormat::kWebp;
  EXPECT_EQ(spec.Canonical(), "rs:fill:300:400:0/g:sm/q:80/f:webp");
}

TEST(TransformSpecCanonical, EveryFieldInFixedOrder) {
  TransformSpec spec;
  spec.resizing_type = ResizingType::kFillDown;
  spec.width = 10;
  spec.height = 20;
  spec.dpr = 2;
  spec.enlarge = true;
  spec.extend = true;
  spec.extend_gravity = {GravityType::kSouth, 0, 0};
  spec.gravity = {GravityType::kNorthEast, 5, -7};
  spec.crop = Crop{0.5, 100, Gravity{GravityType::kFocusPoint, 0.25, 0.75}};
  spec.rotate = 90;
  spec.flip_horizontal = true;
  spec.auto_rotate = false;
  spec.blur = 1.5;
  spec.sharpen = 0.3;
  spec.background = Rgb{255, 0, 16};
  spec.quality = 75;
  spec.strip_metadata = false;
  spec.format = ImageFormat::kAvif;
  EXPECT_EQ(spec.Canonical(),
            "rs:fill-down:10:20:1/dpr:2/ex:1:so/g:noea:5:-7/c:0.5:100:fp:0.25:0.75/rot:90/"
            "fl:1:0/ar:0/bl:1.5/sh:0.3/bg:ff0010/q:75/sm:0/f:avif");
}

TEST(TransformSpecCanonical, ResizingTypeNames) {
  const std::pair<ResizingType, const char*> cases[] = {
      {ResizingType::kFill, "rs:fill:0:0:0"},
      {ResizingType::kFillDown, "rs:fill-down:0:0:0"},
      {ResizingType::kForce, "rs:force:0:0:0"},
      {ResizingType::kAuto, "rs:auto:0:0:0"},
  };
  for (const auto& [type, expected] : cases) {
    TransformSpec spec;
    spec.resizing_type = type;
    EXPECT_EQ(spec.Canonical(), expected);
  }
}

TEST(TransformSpecCanonical, GravityNames) {
  const std::pair<GravityType, const char*> cases[] = {
      {GravityType::kNorth, "g:no"},       {GravityType::kSouth, "g:so"},
      {GravityType::kEast, "g:ea"},        {GravityType::kWest, "g:we"},
      {GravityType::kNorthEast, "g:noea"}, {GravityType::kNorthWest, "g:nowe"},
      {GravityType::kSouthEast, "g:soea"}, {GravityType::kSouthWest, "g:sowe"},
      {GravityType::kSmart, "g:sm"},
  };
  for (const auto& [type, expected] : cases) {
    TransformSpec spec;
    spec.gravity.type = type;
    EXPECT_EQ(spec.Canonical(), expected);
  }
}

TEST(TransformSpecCanonical, CenterWithOffsetsIsNotDefault) {
  TransformSpec spec;
  spec.gravity = {GravityType::kCenter, 0, 12};
  EXPECT_EQ(spec.Canonical(), "g:ce:0:12");
}

TEST(TransformSpecCanonical, FocusPointAlwaysHasBothCoordinates) {
  TransformSpec spec;
  spec.gravity = {GravityType::kFocusPoint, 0, 1};
  EXPECT_EQ(spec.Canonical(), "g:fp:0:1");
}

TEST(TransformSpecCanonical, NumbersHaveNoTrailingZerosAndKeepPrecision) {
  TransformSpec spec;
  spec.dpr = 1.5;
  EXPECT_EQ(spec.Canonical(), "dpr:1.5");
  spec.dpr = 0.1;
  EXPECT_EQ(spec.Canonical(), "dpr:0.1");
  spec.dpr = 3;
  EXPECT_EQ(spec.Canonical(), "dpr:3");

  // %g would print both as 1.23457e+06 and merge two different images into one key.
  TransformSpec a, b;
  a.gravity = {GravityType::kNorth, 1234567, 0};
  b.gravity = {GravityType::kNorth, 1234568, 0};
  EXPECT_EQ(a.Canonical(), "g:no:1234567:0");
  EXPECT_NE(a.Canonical(), b.Canonical());

  TransformSpec c, d;
  c.blur = 0.30000000000000004;
  d.blur = 0.3;
  EXPECT_NE(c.Canonical(), d.Canonical());
  EXPECT_EQ(d.Canonical(), "bl:0.3");
}

TEST(TransformSpecCanonical, NegativeZeroIsZero) {
  TransformSpec a, b;
  a.gravity = {GravityType::kNorth, -0.0, 5};
  b.gravity = {GravityType::kNorth, 0.0, 5};
  EXPECT_EQ(a.Canonical(), b.Canonical());
  EXPECT_EQ(a.Canonical(), "g:no:0:5");
}

TEST(TransformSpecCanonical, ExtendGravityOnlyCountsWhenExtending) {
  TransformSpec spec;
  spec.extend_gravity = {GravityType::kNorth, 0, 0};
  EXPECT_EQ(spec.Canonical(), "");
  spec.extend = true;
  EXPECT_EQ(spec.Canonical(), "ex:1:no");
  spec.extend_gravity = Gravity{};
  EXPECT_EQ(spec.Canonical(), "ex:1");
}

TEST(TransformSpecCanonical, EmptyCropIsNoCrop) {
  TransformSpec spec;
  spec.crop = Crop{0, 0, Gravity{GravityType::kSouth}};
  EXPECT_EQ(spec.Canonical(), "");
}

TEST(TransformSpecCanonical, CropGravityEqualToSpecGravityIsUnset) {
  TransformSpec unset;
  unset.gravity.type = GravityType::kWest;
  unset.crop = Crop{100, 50, std::nullopt};
  TransformSpec same = unset;
  same.crop->gravity = Gravity{GravityType::kWest};
  TransformSpec other = unset;
  other.crop->gravity = Gravity{GravityType::kCenter};
  EXPECT_EQ(unset.Canonical(), "g:we/c:100:50");
  EXPECT_EQ(same.Canonical(), unset.Canonical());
  EXPECT_EQ(other.Canonical(), "g:we/c:100:50:ce");
}

TEST(TransformSpecCanonical, BackgroundIsLowercaseHex) {
  TransformSpec spec;
  spec.background = Rgb{0xAB, 0x0C, 0xFF};
  EXPECT_EQ(spec.Canonical(), "bg:ab0cff");
  spec.background = Rgb{};  // white is still a flatten, unlike no background
  EXPECT_EQ(spec.Canonical(), "bg:ffffff");
}

TEST(TransformSpecCanonical, FlipBothWays) {
  TransformSpec spec;
  spec.flip_vertical = true;
  EXPECT_EQ(spec.Canonical(), "fl:0:1");
  spec.flip_horizontal = true;
  EXPECT_EQ(spec.Canonical(), "fl:1:1");
}

TEST(TransformSpecCanonical, EnlargeAloneShowsInResize) {
  TransformSpec spec;
  spec.enlarge = true;
  EXPECT_EQ(spec.Canonical(), "rs:fit:0:0:1");
}

TEST(TransformSpecCanonical, NewOptionsInFixedOrder) {
  TransformSpec spec;
  spec.min_width = 10;
  spec.min_height = 20;
  spec.zoom_x = 2;
  spec.zoom_y = 1.5;
  spec.extend_aspect_ratio = true;
  spec.extend_aspect_ratio_gravity = {GravityType::kNorth, 0, 0};
  spec.trim = Trim{5, Rgb{0, 255, 0}, true, false};
  spec.padding = {1, 2, 3, 4};
  spec.pixelate = 6;
  spec.watermark = Watermark{0.5, {GravityType::kSouthEast, 3, 4}, false, 0.25};
  spec.format_quality = {{ImageFormat::kWebp, 70}};
  spec.max_bytes = 5000;
  spec.keep_copyright = false;
  spec.strip_color_profile = false;
  spec.enforce_thumbnail = true;
  spec.skip_processing = {ImageFormat::kGif, ImageFormat::kSvg};
  EXPECT_EQ(spec.Canonical(),
            "mw:10/mh:20/z:2:1.5/exar:1:no/t:5:00ff00:1:0/pd:1:2:3:4/pix:6/"
            "wm:0.5:soea:3:4:0.25/fq:webp:70/mb:5000/kcr:0/scp:0/eth:1/skp:gif:svg");
}

TEST(TransformSpecCanonical, QualityFoldsForAKnownFormat) {
  TransformSpec spec;
  spec.quality = 60;
  spec.format_quality = {{ImageFormat::kWebp, 70}};
  spec.format = ImageFormat::kWebp;
  EXPECT_EQ(spec.Canonical(), "q:70/f:webp");
  spec.format = ImageFormat::kJpeg;
  EXPECT_EQ(spec.Canonical(), "q:60/f:jpg");
  EXPECT_EQ(spec.QualityFor(ImageFormat::kWebp), 70);
  EXPECT_EQ(spec.QualityFor(ImageFormat::kAvif), 60);
}

TEST(TransformSpecCanonical, NegotiatedFormatIsLeftToTheKey) {
  TransformSpec spec;
  spec.format = ImageFormat::kAvif;
  spec.auto_format = true;
  EXPECT_EQ(spec.Canonical(), "");
  spec.auto_format = false;
  EXPECT_EQ(spec.Canonical(), "f:avif");
}

TEST(TransformSpecCanonical, RawIgnoresEverythingElse) {
  TransformSpec spec;
  spec.raw = true;
  spec.width = 100;
  EXPECT_EQ(spec.Canonical(), "raw:1");
}

TEST(TransformSpecCanonical, ReplicatedWatermarkHasNoPosition) {
  TransformSpec a;
  a.watermark = Watermark{1, {GravityType::kNorth, 5, 5}, true, 0};
  TransformSpec b;
  b.watermark = Watermark{1, {}, true, 0};
  EXPECT_EQ(a.Canonical(), b.Canonical());
  EXPECT_EQ(a.Canonical(), "wm:1:re:0:0:0");
}

}  // namespace
}  // namespace imgorigin::transforms
