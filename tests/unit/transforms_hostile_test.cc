// Hostile inputs (issue 13): sources and options built to reach outside the document, to run
// past the deadline, to take unbounded memory or to overflow the plan. Each test names the class
// it guards.
#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <fstream>
#include <string>
#include <thread>
#include <vips/vips8>

#include "tests/unit/transforms_test_images.h"
#include "transforms/geometry.h"
#include "transforms/inspect.h"
#include "transforms/jpeg_scans.h"
#include "transforms/render_cost.h"
#include "transforms/parser.h"
#include "transforms/pipeline.h"

namespace imgorigin::transforms {
namespace {

using common::ErrorCode;
using namespace test_images;

class VipsEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { InitVips("transforms_hostile_test"); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new VipsEnvironment);

// A file in a fresh temporary directory, removed with it.
class TempFile {
 public:
  explicit TempFile(const std::string& bytes) {
    char dir[] = "/tmp/imgorigin-hostile-XXXXXX";
    dir_ = mkdtemp(dir);
    path_ = dir_ + "/source";
    std::ofstream(path_, std::ios::binary) << bytes;
  }
  ~TempFile() { std::filesystem::remove_all(dir_); }
  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::string path_;
};

TransformSpec ToPng(int w = 0) {
  TransformSpec spec;
  spec.width = w;
  spec.format = ImageFormat::kPng;
  return spec;
}

// The error code of a call expected to fail (kOk-less ErrorCode: a success reports as kInternal
// after failing the expectation).
template <typename T>
ErrorCode CodeOf(const common::Result<T>& r) {
  EXPECT_FALSE(r.has_value()) << "expected an error, got a result";
  return r ? ErrorCode::kInternal : r.error().code;
}

std::string Gzip(const std::string& text) {
  z_stream stream{};
  EXPECT_EQ(deflateInit2(&stream, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&stream, text.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  stream.avail_in = static_cast<uInt>(text.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

// --- 1. SVG: the loader decides, and librsvg never gets a file path ---

// Sniffs as AVIF ("ftyp" at offset 4, brand "avif"), but libvips' SVG loader claims it.
constexpr const char* kFakeAvifPrefix = "<!--ftypavif-->";

std::string FakeAvifSvg(const std::string& body) {
  return std::string(kFakeAvifPrefix) +
         "<svg xmlns=\"http://www.w3.org/2000/svg\" "
         "xmlns:xlink=\"http://www.w3.org/1999/xlink\" width=\"64\" height=\"64\">" +
         body + "</svg>";
}

TEST(HostileSvg, FakeAvifPrefixIsTheSvgLoadersAndIsChecked) {
  const std::string svg =
      FakeAvifSvg("<image width=\"64\" height=\"64\" href=\"file:///etc/passwd\"/>");
  ASSERT_EQ(SniffFormat(svg), ImageFormat::kAvif);  // what our own sniffing says
  EXPECT_EQ(LoaderFormat(svg), ImageFormat::kSvg);  // what libvips will do
  const auto r = Process(svg, ToPng(), PipelineLimits{});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(r.error().message.find("SVG"), std::string::npos) << r.error().message;
}

TEST(HostileSvg, FakeAvifWithRelativeImageIsRefusedFromAFile) {
  // The attack: a relative reference resolved against the temp directory the file sits in.
  const TempFile file(FakeAvifSvg("<image width=\"64\" height=\"64\" href=\"secret.png\"/>"));
  std::ofstream(file.dir() + "/secret.png", std::ios::binary) << Png(Solid(64, 64, kRed));
  const auto r = ProcessFile(file.path(), ToPng(), PipelineLimits{});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnsupported) << r.error().message;
}

TEST(HostileSvg, XIncludeIsRefusedFromBufferAndFile) {
  const std::string svg = FakeAvifSvg(
      "<text xmlns:xi=\"http://www.w3.org/2001/XInclude\" x=\"0\" y=\"20\">"
      "<xi:include href=\"file:///etc/passwd\" parse=\"text\"/></text>");
  EXPECT_EQ(CodeOf(Process(svg, ToPng(), PipelineLimits{})), ErrorCode::kUnsupported);
  const TempFile file(svg);
  EXPECT_EQ(CodeOf(ProcessFile(file.path(), ToPng(), PipelineLimits{})),
            ErrorCode::kUnsupported);
}

TEST(HostileSvg, CharacterReferencesAndCssEscapesCannotHideUrl) {
  const std::string by_reference =
      FakeAvifSvg("<rect width=\"9\" height=\"9\" style=\"fill:u&#114;l(file:///x#a)\"/>");
  EXPECT_EQ(CodeOf(Process(by_reference, ToPng(), PipelineLimits{})),
            ErrorCode::kUnsupported);
  const std::string by_escape = FakeAvifSvg(
      "<style>rect{fill:u\\72 l(file:///x#a)}</style><rect width=\"9\" height=\"9\"/>");
  EXPECT_EQ(CodeOf(Process(by_escape, ToPng(), PipelineLimits{})), ErrorCode::kUnsupported);
}

constexpr const char* kRedSquare =
    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"40\" height=\"40\">"
    "<rect width=\"40\" height=\"40\" fill=\"#f00\"/></svg>";

TEST(HostileSvg, CommentDoctypeAndXmlDeclarationFirstStillRender) {
  const std::string svg = std::string("<?xml version=\"1.0\"?>\n<!-- exported -->\n") +
                          "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" "
                          "\"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n" +
                          kRedSquare;
  const auto out = MustProcess(svg, ToPng(20));
  EXPECT_EQ(out.width, 20);
  ExpectRegion(Decode(out.bytes), 2, 2, 16, 16, kRed);
  const auto comment_first = MustProcess(std::string("<!-- a comment -->") + kRedSquare, ToPng());
  EXPECT_EQ(comment_first.width, 40);
}

TEST(HostileSvg, SvgzRendersFromBufferAndFile) {
  const std::string svgz = Gzip(kRedSquare);
  ASSERT_EQ(LoaderFormat(svgz), ImageFormat::kSvg);
  const auto out = MustProcess(svgz, ToPng(20));
  EXPECT_EQ(out.width, 20);
  ExpectRegion(Decode(out.bytes), 2, 2, 16, 16, kRed);
  const TempFile file(svgz);
  const auto from_file = ProcessFile(file.path(), ToPng(20), PipelineLimits{});
  ASSERT_TRUE(from_file.has_value()) << from_file.error().message;
  EXPECT_EQ(from_file->width, 20);
}

TEST(HostileSvg, SvgzWithExternalReferenceIsRefused) {
  const std::string svgz = Gzip(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"9\" height=\"9\">"
      "<image width=\"9\" height=\"9\" href=\"file:///etc/passwd\"/></svg>");
  EXPECT_EQ(CodeOf(Process(svgz, ToPng(), PipelineLimits{})), ErrorCode::kUnsupported);
}

// --- 2. Deadlines: work bounded before it starts ---

int64_t CountScans(std::string_view jpeg, size_t piece) {
  JpegScanCounter counter;
  for (size_t i = 0; i < jpeg.size(); i += piece) counter.Feed(jpeg.substr(i, piece));
  return counter.scans();
}

std::string ProgressiveJpeg(int w, int h) {
  return Blob(Noise(w, h).jpegsave_buffer(VImage::option()->set("interlace", true)));
}

// A progressive JPEG whose last scan is repeated `extra` more times: libjpeg only warns about the
// bogus progression and runs every scan over the whole image.
std::string ManyScanJpeg(int w, int h, int extra) {
  const std::string jpeg = ProgressiveJpeg(w, h);
  const size_t last_sos = jpeg.rfind("\xFF\xDA");
  const std::string scan = jpeg.substr(last_sos, jpeg.size() - 2 - last_sos);
  std::string out = jpeg.substr(0, jpeg.size() - 2);
  for (int i = 0; i < extra; ++i) out += scan;
  return out + "\xFF\xD9";
}

TEST(HostileDeadline, ScanCounterReadsMarkersInAnyPieces) {
  const std::string baseline = Jpeg(Noise(64, 64));
  const std::string progressive = ProgressiveJpeg(64, 64);
  for (const size_t piece : {size_t{1}, size_t{3}, size_t{4096}}) {
    EXPECT_EQ(CountScans(baseline, piece), 1);
    EXPECT_EQ(CountScans(progressive, piece), 10);  // libjpeg's default progression
    EXPECT_EQ(CountScans(ManyScanJpeg(64, 64, 500), piece), 510);
  }
  // Stuffed 0xFF00, restart markers and fill bytes inside a scan are no markers; a length that
  // hides "FF DA" inside a segment is skipped; counting stops at EOI and at garbage.
  const std::string crafted = std::string("\xFF\xD8\xFF\xE0\x00\x06\xFF\xDA\x00\x00", 10) +
                              std::string("\xFF\xDA\x00\x02", 4) + std::string("ab\xFF\x00\xFF\xD3" "cd", 8) +
                              std::string("\xFF\xFF\xDA\x00\x02", 5) + "\xFF\xD9" +
                              std::string("\xFF\xDA\x00\x02", 4);
  EXPECT_EQ(CountScans(crafted, 1), 2);
  EXPECT_EQ(CountScans(crafted, 100), 2);
  EXPECT_EQ(CountScans("not a jpeg \xFF\xDA", 100), 0);
}

TEST(HostileDeadline, JpegWithTooManyScansIsRefusedBeforeDecoding) {
  const std::string jpeg = ManyScanJpeg(512, 512, 2000);
  const PipelineLimits limits;
  const auto r = Process(jpeg, ToPng(100), limits);
  EXPECT_EQ(CodeOf(r), ErrorCode::kTooLarge);
  if (!r) {
    EXPECT_NE(r.error().message.find("2010 scans"), std::string::npos) << r.error().message;
  }
  const TempFile file(jpeg);
  EXPECT_EQ(CodeOf(ProcessFile(file.path(), ToPng(100), limits)), ErrorCode::kTooLarge);
  const auto info = Inspect(jpeg, limits);
  ASSERT_FALSE(info.has_value());
  EXPECT_EQ(info.error().code, ErrorCode::kTooLarge);
  // An ordinary progressive JPEG still renders.
  EXPECT_EQ(MustProcess(ProgressiveJpeg(64, 64), ToPng(32)).width, 32);
}

TEST(HostileDeadline, InspectStopsAtTheDeadline) {
  PipelineLimits limits;
  limits.timeout = std::chrono::milliseconds(1);
  // Large enough that the thumbnail's decode outlives 1 ms.
  const std::string png = Png(Noise(3000, 3000));
  const auto info = Inspect(png, limits);
  ASSERT_FALSE(info.has_value());
  EXPECT_EQ(info.error().code, ErrorCode::kDeadlineExceeded) << info.error().message;
}

// --- 6. Arithmetic and arguments ---

// A 400 whose message starts with the option's name.
void ExpectBadOption(const std::string& options, const std::string& option) {
  const auto r = ParseProcessingPath("/" + options + "/plain/local:///a.png", ParserConfig{});
  ASSERT_FALSE(r.has_value()) << options << " was accepted";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(r.error().message.starts_with(option + ":")) << r.error().message;
}

TEST(HostileArguments, AbsurdSizesAreRefusedNamingTheOption) {
  ExpectBadOption("pd:2147483647", "padding");
  ExpectBadOption("pd:0:0:0:9000", "padding");
  ExpectBadOption("pd:5000/dpr:2", "padding");
  ExpectBadOption("w:100/z:42949673/el:1", "zoom");
  ExpectBadOption("z:9000", "zoom");
  ExpectBadOption("pix:400000", "pixelate");
  ExpectBadOption("mw:2147483647", "min-width");
  ExpectBadOption("bl:5000", "blur");
  ExpectBadOption("sh:1e9", "sharpen");
}

TEST(HostileArguments, ReasonableValuesStillParse) {
  for (const char* options : {"pd:8192", "w:100/z:81", "pix:8192", "bl:250", "sh:20", "mw:4096/dpr:2"}) {
    const auto r = ParseProcessingPath(std::string("/") + options + "/plain/local:///a.png",
                                       ParserConfig{});
    EXPECT_TRUE(r.has_value()) << options << ": " << r.error().message;
  }
}

TEST(HostileArguments, PlanSaturatesInsteadOfWrapping) {
  // Specs the parser would refuse, built directly: the plan must still not overflow.
  TransformSpec padded;
  padded.padding = Padding{2147483647, 2147483647, 2147483647, 2147483647};
  const Plan p = MakePlan(100, 100, 1, 0, padded, false);
  EXPECT_GT(p.final_w, 8192);
  EXPECT_GT(p.final_h, 8192);

  TransformSpec zoomed;
  zoomed.width = 100;
  zoomed.zoom_x = zoomed.zoom_y = 42949673;
  zoomed.enlarge = true;
  const Plan z = MakePlan(100, 100, 1, 0, zoomed, false);
  EXPECT_GT(z.final_w, 8192);

  TransformSpec cropped;
  cropped.crop = Crop{.width = 1e300, .height = 1e300};
  const Plan c = MakePlan(100, 50, 1, 0, cropped, false);
  EXPECT_EQ(c.crop_w, 100);
  EXPECT_EQ(c.crop_h, 50);
}

TEST(HostileArguments, OverflowingPaddingIsOverTheResultLimit) {
  TransformSpec spec = ToPng();
  spec.padding = Padding{2147483647, 2147483647, 2147483647, 2147483647};
  EXPECT_EQ(CodeOf(Process(Png(Solid(8, 8, kRed)), spec, PipelineLimits{})),
            ErrorCode::kInvalidArgument);
}

TEST(HostileArguments, HugePixelateOnATinyImageIsOneBlock) {
  TransformSpec spec = ToPng();
  spec.pixelate = 400000;
  const auto start = std::chrono::steady_clock::now();
  const auto out = MustProcess(Png(Quadrants(8, 8)), spec);
  // Before the clamp this ran for 92 s; the bound is the timeout plus a second.
  EXPECT_LT(std::chrono::steady_clock::now() - start, PipelineLimits{}.timeout + std::chrono::seconds(1));
  EXPECT_EQ(out.width, 8);
  // One block: the image's mean colour everywhere.
  const VImage img = Decode(out.bytes);
  EXPECT_NEAR(Mean(img, 0, 0, 0, 8, 8), Mean(img, 0, 0, 0, 1, 1), 1);
}

// --- 3. Memory: estimated from the header and the plan before anything is decoded ---

// 16-bit RGBA, 2000×2000: 32 MB of pixels that an interlaced PNG's loader holds at once.
std::string Png16(bool interlaced) {
  const VImage img = Solid(2000, 2000, kRed).bandjoin(255).cast(VIPS_FORMAT_USHORT).copy(
      VImage::option()->set("interpretation", VIPS_INTERPRETATION_RGB16));
  return Blob(img.pngsave_buffer(VImage::option()->set("interlace", interlaced)->set("compression", 1)));
}

PipelineLimits MemoryLimit(int64_t bytes) {
  PipelineLimits limits;
  limits.max_render_memory = bytes;
  return limits;
}

TEST(HostileMemory, InterlacedPngIsRefusedWhereTheSameNonInterlacedOneFits) {
  const PipelineLimits limits = MemoryLimit(40 << 20);
  EXPECT_EQ(CodeOf(Process(Png16(true), ToPng(100), limits)), ErrorCode::kTooLarge);
  const auto plain = Process(Png16(false), ToPng(100), limits);
  ASSERT_TRUE(plain.has_value()) << plain.error().message;
  EXPECT_EQ(plain->width, 100);
}

TEST(HostileMemory, ProgressiveJpegCountsItsFullSizeCoefficients) {
  // 3000×3000×3 coefficients of 2 bytes: 54 MB, however small the thumbnail.
  const VImage img = Noise(3000, 3000);
  const std::string progressive =
      Blob(img.jpegsave_buffer(VImage::option()->set("interlace", true)->set("Q", 50)));
  const std::string baseline = Blob(img.jpegsave_buffer(VImage::option()->set("Q", 50)));
  const PipelineLimits limits = MemoryLimit(64 << 20);
  EXPECT_EQ(CodeOf(Process(progressive, ToPng(50), limits)), ErrorCode::kTooLarge);
  EXPECT_TRUE(Process(baseline, ToPng(50), limits).has_value());
  // /info decodes a thumbnail: the same coefficients.
  const auto info = Inspect(progressive, limits);
  ASSERT_FALSE(info.has_value());
  EXPECT_EQ(info.error().code, ErrorCode::kTooLarge);
  EXPECT_TRUE(Inspect(baseline, limits).has_value());
}

TEST(HostileMemory, EnlargingATinySourceCountsTheOutput) {
  // 1×1 → 4096×4096 WebP: the encoder holds the whole output.
  TransformSpec spec;
  spec.width = 4096;
  spec.height = 4096;
  spec.enlarge = true;
  spec.resizing_type = ResizingType::kForce;
  spec.format = ImageFormat::kWebp;
  EXPECT_EQ(CodeOf(Process(Png(Solid(1, 1, kRed)), spec, MemoryLimit(128 << 20))),
            ErrorCode::kTooLarge);
  spec.width = spec.height = 256;
  EXPECT_TRUE(Process(Png(Solid(1, 1, kRed)), spec, MemoryLimit(128 << 20)).has_value());
}

TEST(HostileMemory, EstimateGrowsWithWhatIsHeldWhole) {
  RenderFootprint f;
  f.src_format = ImageFormat::kJpeg;
  f.src_w = f.src_h = 4000;
  f.out_format = ImageFormat::kJpeg;
  f.out_w = f.out_h = 400;
  f.decode_scale = 0.125;
  const int64_t streamed = EstimateRenderMemory(f);
  RenderFootprint progressive = f;
  progressive.progressive = true;
  EXPECT_GT(EstimateRenderMemory(progressive), streamed + 90'000'000);  // 4000²×3×2
  RenderFootprint rotated = f;
  rotated.whole_decode = true;
  EXPECT_GT(EstimateRenderMemory(rotated), streamed);
  RenderFootprint avif = f;
  avif.out_format = ImageFormat::kAvif;
  avif.out_w = avif.out_h = 8192;
  EXPECT_GT(EstimateRenderMemory(avif), int64_t{1} << 30);
  RenderFootprint huge = f;
  huge.src_w = huge.src_h = INT32_MAX;
  huge.progressive = true;
  EXPECT_GT(EstimateRenderMemory(huge), int64_t{1} << 40);  // saturates, never wraps negative
}

TEST(HostileMemory, TotalBudgetSmallerThanOneRenderRefusesIt) {
  PipelineLimits limits;
  limits.memory_budget = std::make_shared<common::MemoryBudget>(8 << 20);
  EXPECT_EQ(CodeOf(Process(Png(Solid(64, 64, kRed)), ToPng(32), limits)), ErrorCode::kTooLarge);
  limits.memory_budget = std::make_shared<common::MemoryBudget>(256 << 20);
  EXPECT_TRUE(Process(Png(Solid(64, 64, kRed)), ToPng(32), limits).has_value());
  EXPECT_EQ(limits.memory_budget->in_use(), 0);  // released with the render
  EXPECT_GT(limits.memory_budget->peak(), 0);
}

TEST(HostileMemory, RenderWaitsForTheBudgetWithinItsDeadline) {
  PipelineLimits limits;
  limits.timeout = std::chrono::milliseconds(200);
  limits.memory_budget = std::make_shared<common::MemoryBudget>(64 << 20);
  // Someone else holds nearly all of it for longer than the render's timeout.
  auto held = limits.memory_budget->Reserve(60 << 20, std::chrono::steady_clock::now());
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(CodeOf(Process(Png(Solid(64, 64, kRed)), ToPng(32), limits)), ErrorCode::kOverloaded);
  EXPECT_EQ(limits.memory_budget->waited(), 1u);
}

// --- 2. Encoders that cannot be stopped: output pixels capped per format ---

TEST(HostileDeadline, UnstoppableEncodeDoesNotStartWithoutTimeForIt) {
  // 1024² AVIF: about 1.3 s of encoding libvips cannot interrupt, 2.1 s at the worst rate. With
  // 300 ms of timeout it would have answered after the encode; now it does not start.
  TransformSpec spec;
  spec.width = 1024;
  spec.height = 1024;
  spec.enlarge = true;
  spec.resizing_type = ResizingType::kForce;
  spec.format = ImageFormat::kAvif;
  PipelineLimits limits;
  limits.timeout = std::chrono::milliseconds(300);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(CodeOf(Process(Jpeg(Noise(64, 64)), spec, limits)), ErrorCode::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - start, limits.timeout + std::chrono::seconds(1));
  // With the time, the same render is made.
  limits.timeout = std::chrono::seconds(30);
  spec.width = spec.height = 256;
  EXPECT_TRUE(Process(Jpeg(Noise(64, 64)), spec, limits).has_value());
}

// 12000×4000 WebP: libwebp decodes the frame in one call that libvips cannot stop, up to 1.9 s at
// the worst rate (25 Mpx/s, and a few KB of bitstream), whatever shrink-on-load asks for.
const std::string& LargeWebp() {
  static const std::string webp = Blob(Solid(12000, 4000, kBlue).webpsave_buffer());
  return webp;
}

TEST(HostileDeadline, DecodeThatCannotFitInTheTimeoutIsRefusedBeforeItStarts) {
  const std::string& webp = LargeWebp();
  PipelineLimits limits;
  limits.timeout = std::chrono::milliseconds(100);
  const auto start = std::chrono::steady_clock::now();
  const auto refused = Process(webp, ToPng(64), limits);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(refused.error().message.find("to decode"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(CodeOf(Inspect(webp, limits)), ErrorCode::kTooLarge);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  // With the time, the same image is read.
  limits.timeout = std::chrono::seconds(30);
  EXPECT_TRUE(Process(webp, ToPng(64), limits).has_value());
  EXPECT_TRUE(Inspect(webp, limits).has_value());
}

TEST(HostileDeadline, DecodeTimeCountsTheBitstreamNotOnlyThePixels) {
  // 2048×1024 of noise, lossless: some 6 MB that libwebp decodes several times slower per pixel
  // than a photo. Its pixels alone would fit in the 100 ms timeout and its second of grace.
  static const std::string noisy = Blob(Noise(2048, 1024).webpsave_buffer(
      VImage::option()->set("lossless", true)->set("effort", 0)));
  ASSERT_GT(noisy.size(), 4'000'000u);
  EXPECT_LT(WorstDecodeSeconds(ImageFormat::kWebp, 2048 * 1024, 0), 1.1);
  PipelineLimits limits;
  limits.timeout = std::chrono::milliseconds(100);
  EXPECT_EQ(CodeOf(Process(noisy, ToPng(64), limits)), ErrorCode::kTooLarge);
  limits.timeout = std::chrono::seconds(30);
  EXPECT_TRUE(Process(noisy, ToPng(64), limits).has_value());
}

TEST(HostileDeadline, DecodeDoesNotStartWhenWaitingForMemoryLeftNoTimeForIt) {
  const std::string& webp = LargeWebp();
  PipelineLimits limits;
  limits.timeout = std::chrono::milliseconds(1500);  // the 1.9 s decode fits, with the grace
  limits.memory_budget = std::make_shared<common::MemoryBudget>(64 << 20);
  auto held = limits.memory_budget->Reserve(64 << 20, std::chrono::steady_clock::now());
  ASSERT_TRUE(held.has_value());
  // Released after 1 s of the render's 1.5: the 1.9 s decode no longer fits in what is left.
  std::thread release([&held] {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    *held = common::MemoryBudget::Reservation();
  });
  const auto refused = Process(webp, ToPng(64), limits);
  release.join();
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kDeadlineExceeded) << refused.error().message;
}

TEST(HostileDeadline, OutputPixelsAreCappedPerFormat) {
  TransformSpec spec;
  spec.width = 2048;
  spec.height = 2048;
  spec.enlarge = true;
  spec.resizing_type = ResizingType::kForce;
  spec.format = ImageFormat::kWebp;
  PipelineLimits limits;
  limits.max_result_pixels[ImageFormat::kWebp] = 1 << 20;
  const auto refused = Process(Png(Solid(1, 1, kRed)), spec, limits);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("webp"), std::string::npos) << refused.error().message;
  // A format negotiated from Accept gives way to one written line by line.
  spec.auto_format = true;
  const auto negotiated = Process(Jpeg(Solid(8, 8, kRed)), spec, limits);
  ASSERT_TRUE(negotiated.has_value()) << negotiated.error().message;
  EXPECT_EQ(negotiated->format, ImageFormat::kJpeg);
  EXPECT_EQ(negotiated->width, 2048);
  // The cap is the format's: the same size as PNG is written line by line and is not capped.
  spec.auto_format = false;
  spec.format = ImageFormat::kPng;
  EXPECT_TRUE(Process(Png(Solid(1, 1, kRed)), spec, limits).has_value());
}

}  // namespace
}  // namespace imgorigin::transforms
