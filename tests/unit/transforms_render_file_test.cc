// RenderToFile: results written by libvips straight to a file give what Process() gives (sizes,
// formats, pixels); formats' own size limits point at --pyramid; TIFF and DeepZoom pyramids are
// readable; a failed render leaves no output; a big JPEG streams; a pyramidal TIFF is decoded
// from the level that suffices.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vips/vips8>

#include "tests/unit/transforms_test_images.h"
#include "transforms/render_file.h"
#include "transforms/steps.h"

namespace imgorigin::transforms {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;
using vips::VImage;
using namespace test_images;

class VipsEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { InitVips("transforms_render_file_test"); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new VipsEnvironment);

TransformSpec Fit(int side, ImageFormat format) {
  TransformSpec spec;
  spec.resizing_type = ResizingType::kFit;
  spec.width = side;
  spec.height = side;
  spec.format = format;
  return spec;
}

TransformSpec As(ImageFormat format) {
  TransformSpec spec;
  spec.format = format;
  return spec;
}

class RenderFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::path(::testing::TempDir()) / "render_file_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  std::string Write(const std::string& name, const std::string& bytes) const {
    std::ofstream(Path(name), std::ios::binary) << bytes;
    return Path(name);
  }

  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  // Every file in the directory, for checking that nothing was left behind.
  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      names.push_back(entry.path().filename().string());
    }
    return names;
  }

  fs::path dir_;
};

TEST_F(RenderFileTest, FileMatchesProcessForEachFormat) {
  const std::string source = Jpeg(Quadrants(1600, 1200));
  const std::string src = Write("src.jpg", source);
  for (const ImageFormat format : {ImageFormat::kJpeg, ImageFormat::kWebp, ImageFormat::kPng}) {
    SCOPED_TRACE(std::string(FormatExtension(format)));
    const TransformSpec spec = Fit(300, format);
    const EncodedImage expected = MustProcess(source, spec);
    const std::string dst = Path(std::string("out.") + std::string(FormatExtension(format)));
    auto rendered = RenderToFile(src, spec, PipelineLimits{}, FileOutput{dst});
    ASSERT_TRUE(rendered.has_value()) << rendered.error().message;
    EXPECT_EQ(rendered->format, expected.format);
    EXPECT_EQ(rendered->width, expected.width);
    EXPECT_EQ(rendered->height, expected.height);
    EXPECT_EQ(rendered->bytes, static_cast<int64_t>(fs::file_size(dst)));
    const std::string written = Read(dst);
    EXPECT_EQ(SniffFormat(written), format);
    const VImage got = Decode(written);
    const VImage want = Decode(expected.bytes);
    ASSERT_EQ(got.width(), want.width());
    ASSERT_EQ(got.height(), want.height());
    EXPECT_LT(MeanAbsDiff(got, want), 0.5);
  }
  EXPECT_EQ(Files().size(), 4u) << "no .part file left";
}

TEST_F(RenderFileTest, ResultOverTheFormatsLimitAsksForAPyramid) {
  // Flat and narrow: cheap to make, yet wider than WebP (16383) or JPEG (65535) can hold.
  const std::string webp_src = Write("wide.png", Png(Solid(17000, 8, kBlue)));
  auto webp = RenderToFile(webp_src, As(ImageFormat::kWebp), BatchLimits(),
                           FileOutput{Path("wide.webp")});
  ASSERT_FALSE(webp.has_value());
  EXPECT_EQ(webp.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(webp.error().message.find("--pyramid"), std::string::npos) << webp.error().message;
  EXPECT_NE(webp.error().message.find("16383"), std::string::npos) << webp.error().message;

  const std::string jpeg_src = Write("wider.png", Png(Solid(70000, 8, kBlue)));
  auto jpeg = RenderToFile(jpeg_src, As(ImageFormat::kJpeg), BatchLimits(),
                           FileOutput{Path("wider.jpg")});
  ASSERT_FALSE(jpeg.has_value());
  EXPECT_EQ(jpeg.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(jpeg.error().message.find("65535"), std::string::npos) << jpeg.error().message;
  EXPECT_EQ(Files().size(), 2u) << "only the two sources";

  // The same result fits as a pyramid, and as a PNG (no such limit).
  auto png = RenderToFile(jpeg_src, As(ImageFormat::kPng), BatchLimits(),
                          FileOutput{Path("wider-out.png")});
  ASSERT_TRUE(png.has_value()) << png.error().message;
  EXPECT_EQ(png->width, 70000);
}

TEST_F(RenderFileTest, TiffPyramidHasLevels) {
  const std::string src = Write("src.jpg", Jpeg(Quadrants(2000, 1500)));
  const std::string dst = Path("out.tif");
  auto rendered =
      RenderToFile(src, TransformSpec{}, BatchLimits(), FileOutput{dst, Pyramid::kTiff});
  ASSERT_TRUE(rendered.has_value()) << rendered.error().message;
  EXPECT_EQ(rendered->format, ImageFormat::kTiff);
  EXPECT_EQ(rendered->width, 2000);
  EXPECT_EQ(rendered->bytes, static_cast<int64_t>(fs::file_size(dst)));
  const VImage full = VImage::new_from_file(dst.c_str());
  EXPECT_EQ(full.width(), 2000);
  EXPECT_EQ(full.height(), 1500);
  ASSERT_GE(full.get_int(VIPS_META_N_PAGES), 3);
  const VImage level1 = VImage::new_from_file(dst.c_str(), VImage::option()->set("page", 1));
  EXPECT_EQ(level1.width(), 1000);
  EXPECT_EQ(level1.height(), 750);
  ExpectRegion(level1.copy_memory(), 100, 100, 200, 150, kRed);
}

TEST_F(RenderFileTest, TiffPyramidWithAlphaKeepsIt) {
  const VImage rgba = Quadrants(600, 400).bandjoin_const({128});
  const std::string src = Write("src.png", Png(rgba));
  const std::string dst = Path("alpha.tif");
  auto rendered =
      RenderToFile(src, TransformSpec{}, BatchLimits(), FileOutput{dst, Pyramid::kTiff});
  ASSERT_TRUE(rendered.has_value()) << rendered.error().message;
  const VImage out = VImage::new_from_file(dst.c_str());
  EXPECT_EQ(out.bands(), 4);
  EXPECT_NEAR(out.extract_band(3).avg(), 128, 1);
}

TEST_F(RenderFileTest, DeepZoomWritesDziAndTiles) {
  const std::string src = Write("src.jpg", Jpeg(Quadrants(1200, 900)));
  const std::string dzi = Path("deep.dzi");
  auto rendered = RenderToFile(src, Fit(1000, ImageFormat::kUnknown), BatchLimits(),
                               FileOutput{dzi, Pyramid::kDeepZoom});
  ASSERT_TRUE(rendered.has_value()) << rendered.error().message;
  EXPECT_EQ(rendered->format, ImageFormat::kJpeg);
  EXPECT_EQ(rendered->width, 1000);
  EXPECT_EQ(rendered->height, 750);
  const std::string xml = Read(dzi);
  EXPECT_NE(xml.find("Width=\"1000\""), std::string::npos) << xml;
  // Levels 0 (1×1) to 10 (1000 px), one directory each.
  const fs::path tiles = Path("deep_files");
  EXPECT_TRUE(fs::exists(tiles / "0" / "0_0.jpg"));
  EXPECT_TRUE(fs::exists(tiles / "10" / "0_0.jpg"));
  EXPECT_TRUE(fs::exists(tiles / "10" / "3_2.jpg"));
  int64_t total = static_cast<int64_t>(fs::file_size(dzi));
  for (const auto& entry : fs::recursive_directory_iterator(tiles)) {
    if (entry.is_regular_file()) total += static_cast<int64_t>(entry.file_size());
  }
  EXPECT_EQ(rendered->bytes, total);

  auto unnamed = RenderToFile(src, TransformSpec{}, BatchLimits(),
                              FileOutput{Path("deep"), Pyramid::kDeepZoom});
  ASSERT_FALSE(unnamed.has_value());
  EXPECT_EQ(unnamed.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(RenderFileTest, TruncatedSourceFailsAndLeavesNothing) {
  const std::string whole = Jpeg(Quadrants(800, 600));
  const std::string src = Write("cut.jpg", whole.substr(0, whole.size() / 2));
  for (const Pyramid pyramid : {Pyramid::kNone, Pyramid::kTiff, Pyramid::kDeepZoom}) {
    const std::string dst = Path(pyramid == Pyramid::kDeepZoom ? "cut.dzi" : "cut.out");
    auto rendered = RenderToFile(src, As(ImageFormat::kPng), PipelineLimits{},
                                 FileOutput{dst, pyramid});
    ASSERT_FALSE(rendered.has_value());
    EXPECT_EQ(rendered.error().code, ErrorCode::kInvalidImage) << rendered.error().message;
  }
  EXPECT_EQ(Files(), std::vector<std::string>{"cut.jpg"});
}

TEST_F(RenderFileTest, BigJpegStreamsThroughSequentialRead) {
  // 24 Mpx, resized by less than 2 so the decode is at full size: 72 MB of pixels that a
  // sequential read never holds at once.
  const int w = 6000, h = 4000;
  const std::string src = Write("big.jpg", Jpeg(Quadrants(w, h), 80));
  const std::string dst = Path("big-out.jpg");
  auto rendered = RenderToFile(src, Fit(5000, ImageFormat::kJpeg), BatchLimits(), FileOutput{dst});
  ASSERT_TRUE(rendered.has_value()) << rendered.error().message;
  EXPECT_EQ(rendered->width, 5000);
  EXPECT_EQ(rendered->height, 3333);
  // libvips' own count of the pixel buffers it allocated, at its highest in this process (each
  // test runs in a process of its own; making the source above held 6 MB): below half the
  // decoded image (28 MB of 72 measured), which a random-access decode would hold whole.
  EXPECT_LT(vips_tracked_get_mem_highwater(), int64_t{w} * h * 3 / 2);
  const VImage out = VImage::new_from_file(dst.c_str());
  EXPECT_EQ(out.width(), 5000);
  ExpectRegion(out.copy_memory(), 4000, 3000, 500, 200, kYellow);
}

// Renders `path` (a pyramidal TIFF) to fit 500 px and returns the decoded source's width.
int DecodedWidth(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string head(64 * 1024, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  const TransformSpec spec = Fit(500, ImageFormat::kJpeg);
  const PipelineLimits limits = BatchLimits();
  Context ctx(head, path.c_str(), spec, limits);
  auto ran = RunSteps(ctx);
  EXPECT_TRUE(ran.has_value()) << ran.error().message;
  EXPECT_TRUE(ctx.output.has_value());
  if (ctx.output) {
    EXPECT_EQ(ctx.output->width, 500);
  }
  return ctx.working.width();
}

TEST_F(RenderFileTest, PagePyramidDecodesFromTheLevelThatSuffices) {
  // 16000² in 8 levels (16000 … 125): fit 500 must read the 500 px level, not the 256 Mpx one.
  const std::string path = Path("pages.tif");
  VImage::black(16000, 16000)
      .tiffsave(path.c_str(), VImage::option()
                                  ->set("tile", true)
                                  ->set("pyramid", true)
                                  ->set("compression", VIPS_FOREIGN_TIFF_COMPRESSION_DEFLATE));
  EXPECT_EQ(DecodedWidth(path), 500);
  auto rendered =
      RenderToFile(path, Fit(500, ImageFormat::kJpeg), BatchLimits(), FileOutput{Path("p.jpg")});
  ASSERT_TRUE(rendered.has_value()) << rendered.error().message;
  EXPECT_EQ(rendered->width, 500);
  // The level stands for the whole image in the pixel limit (not 8 pages' worth of pixels).
  PipelineLimits tight = BatchLimits();
  tight.max_src_pixels = 16000LL * 16000;
  EXPECT_TRUE(RenderToFile(path, Fit(500, ImageFormat::kJpeg), tight, FileOutput{Path("q.jpg")})
                  .has_value());
}

TEST_F(RenderFileTest, SubifdPyramidDecodesFromTheLevelThatSuffices) {
  // 4000² with SubIFD levels 2000, 1000, 500, 250 …: fit 500 reads the 500 px SubIFD.
  const std::string path = Path("subifd.tif");
  VImage::black(4000, 4000)
      .tiffsave(path.c_str(), VImage::option()
                                  ->set("tile", true)
                                  ->set("pyramid", true)
                                  ->set("subifd", true)
                                  ->set("compression", VIPS_FOREIGN_TIFF_COMPRESSION_DEFLATE));
  EXPECT_EQ(DecodedWidth(path), 500);
}

TEST_F(RenderFileTest, MultiPageTiffIsNotAPyramid) {
  // Pages of one size are a document, not levels: the first page is decoded at full size.
  const std::string path = Path("pages.tif");
  VImage doc = Solid(800, 1800, kGreen).copy();
  doc.set(VIPS_META_PAGE_HEIGHT, 600);
  doc.tiffsave(path.c_str());
  EXPECT_EQ(DecodedWidth(path), 800);
}

}  // namespace
}  // namespace imgorigin::transforms
