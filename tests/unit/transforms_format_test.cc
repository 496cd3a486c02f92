#include <gtest/gtest.h>
#include <vips/vips.h>

#include <string>
#include <string_view>

#include "transforms/format.h"

namespace imgorigin::transforms {
namespace {

using namespace std::string_view_literals;

constexpr ImageFormat kAllFormats[] = {
    ImageFormat::kJpeg, ImageFormat::kPng,  ImageFormat::kWebp, ImageFormat::kAvif,
    ImageFormat::kGif,  ImageFormat::kTiff, ImageFormat::kHeic, ImageFormat::kSvg,
    ImageFormat::kJxl,  ImageFormat::kBmp,  ImageFormat::kIco,
};

TEST(FormatFromExtension, KnowsEveryListedSpelling) {
  struct Case {
    std::string_view ext;
    ImageFormat format;
  };
  const Case cases[] = {
      {"jpg", ImageFormat::kJpeg},  {"jpeg", ImageFormat::kJpeg}, {"png", ImageFormat::kPng},
      {"webp", ImageFormat::kWebp}, {"avif", ImageFormat::kAvif}, {"gif", ImageFormat::kGif},
      {"tiff", ImageFormat::kTiff}, {"tif", ImageFormat::kTiff},  {"heic", ImageFormat::kHeic},
      {"svg", ImageFormat::kSvg},   {"jxl", ImageFormat::kJxl},   {"bmp", ImageFormat::kBmp},
      {"ico", ImageFormat::kIco},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(FormatFromExtension(c.ext), c.format) << c.ext;
  }
}

TEST(FormatFromExtension, IsCaseInsensitive) {
  EXPECT_EQ(FormatFromExtension("JPG"), ImageFormat::kJpeg);
  EXPECT_EQ(FormatFromExtension("WebP"), ImageFormat::kWebp);
  EXPECT_EQ(FormatFromExtension("TIF"), ImageFormat::kTiff);
}

TEST(FormatFromExtension, RejectsOthers) {
  for (std::string_view ext : {""sv, "exe"sv, "jp"sv, "jpgg"sv, ".jpg"sv, "png "sv, "pdf"sv}) {
    EXPECT_EQ(FormatFromExtension(ext), std::nullopt) << ext;
  }
}

TEST(FormatExtension, RoundTripsThroughFromExtension) {
  for (const ImageFormat format : kAllFormats) {
    const std::string_view ext = FormatExtension(format);
    ASSERT_FALSE(ext.empty());
    EXPECT_EQ(FormatFromExtension(ext), format) << ext;
  }
  EXPECT_EQ(FormatExtension(ImageFormat::kJpeg), "jpg");
  EXPECT_EQ(FormatExtension(ImageFormat::kTiff), "tiff");
  EXPECT_EQ(FormatExtension(ImageFormat::kUnknown), "");
}

TEST(FormatMimeType, MapsEachFormat) {
  EXPECT_EQ(FormatMimeType(ImageFormat::kJpeg), "image/jpeg");
  EXPECT_EQ(FormatMimeType(ImageFormat::kPng), "image/png");
  EXPECT_EQ(FormatMimeType(ImageFormat::kWebp), "image/webp");
  EXPECT_EQ(FormatMimeType(ImageFormat::kAvif), "image/avif");
  EXPECT_EQ(FormatMimeType(ImageFormat::kGif), "image/gif");
  EXPECT_EQ(FormatMimeType(ImageFormat::kTiff), "image/tiff");
  EXPECT_EQ(FormatMimeType(ImageFormat::kHeic), "image/heic");
  EXPECT_EQ(FormatMimeType(ImageFormat::kSvg), "image/svg+xml");
  EXPECT_EQ(FormatMimeType(ImageFormat::kJxl), "image/jxl");
  EXPECT_EQ(FormatMimeType(ImageFormat::kBmp), "image/bmp");
  EXPECT_EQ(FormatMimeType(ImageFormat::kIco), "image/x-icon");
  EXPECT_EQ(FormatMimeType(ImageFormat::kUnknown), "application/octet-stream");
}

TEST(FormatFromMimeType, ReadsEachFormatsTypeAndCommonAliases) {
  for (const ImageFormat format : kAllFormats) {
    EXPECT_EQ(FormatFromMimeType(FormatMimeType(format)), format) << FormatMimeType(format);
  }
  EXPECT_EQ(FormatFromMimeType("IMAGE/JPEG"), ImageFormat::kJpeg);
  EXPECT_EQ(FormatFromMimeType("image/jpg"), ImageFormat::kJpeg);
  EXPECT_EQ(FormatFromMimeType("image/png; charset=binary"), ImageFormat::kPng);
  EXPECT_EQ(FormatFromMimeType("image/heif"), ImageFormat::kHeic);
  EXPECT_EQ(FormatFromMimeType("image/vnd.microsoft.icon"), ImageFormat::kIco);
  for (const auto other :
       {"", "image/", "text/plain", "image/x-made-up", "application/json", "image/jpeg2"}) {
    EXPECT_EQ(FormatFromMimeType(other), std::nullopt) << other;
  }
}

TEST(CanLoad, TheCommonFormatsAndNotUnknown) {
  ASSERT_EQ(vips_init("transforms_format_test"), 0);
  for (const ImageFormat format :
       {ImageFormat::kJpeg, ImageFormat::kPng, ImageFormat::kWebp, ImageFormat::kGif}) {
    EXPECT_TRUE(CanLoad(format)) << FormatExtension(format);
  }
  EXPECT_FALSE(CanLoad(ImageFormat::kUnknown));
}

TEST(SniffFormat, RecognisesMagicBytes) {
  struct Case {
    std::string_view bytes;
    ImageFormat format;
  };
  const Case cases[] = {
      {"\xFF\xD8\xFF\xE0\0\x10JFIF"sv, ImageFormat::kJpeg},
      {"\x89PNG\r\n\x1A\n\0\0\0\rIHDR"sv, ImageFormat::kPng},
      {"GIF87a\x01\0"sv, ImageFormat::kGif},
      {"GIF89a\x01\0"sv, ImageFormat::kGif},
      {"RIFF\x24\0\0\0WEBPVP8 "sv, ImageFormat::kWebp},
      {"\0\0\0\x1C"
       "ftypavif\0\0\0\0avifmif1"sv,
       ImageFormat::kAvif},
      {"\0\0\0\x1C"
       "ftypavis\0\0\0\0avismif1"sv,
       ImageFormat::kAvif},
      {"\0\0\0\x18"
       "ftypheic\0\0\0\0mif1heic"sv,
       ImageFormat::kHeic},
      {"\0\0\0\x18"
       "ftypheix\0\0\0\0mif1heix"sv,
       ImageFormat::kHeic},
      {"\0\0\0\x18"
       "ftypmif1\0\0\0\0mif1heic"sv,
       ImageFormat::kHeic},
      // A generic HEIF brand whose compatible brands say AVIF.
      {"\0\0\0\x1C"
       "ftypmif1\0\0\0\0mif1miafavif"sv,
       ImageFormat::kAvif},
      {"II*\0\x08\0\0\0"sv, ImageFormat::kTiff},
      {"MM\0*\0\0\0\x08"sv, ImageFormat::kTiff},
      {"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"sv, ImageFormat::kSvg},
      {"<?xml version=\"1.0\"?><svg/>"sv, ImageFormat::kSvg},
      {"\xEF\xBB\xBF  \n<svg/>"sv, ImageFormat::kSvg},
      {"\xFF\x0A\xFA\x7F"sv, ImageFormat::kJxl},
      {"\0\0\0\x0CJXL \r\n\x87\n\0\0\0\x14"sv, ImageFormat::kJxl},
      {"BM\x36\0\x0C\0"sv, ImageFormat::kBmp},
      {"\0\0\1\0\1\0\x10\x10"sv, ImageFormat::kIco},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(SniffFormat(c.bytes), c.format) << FormatExtension(c.format);
  }
}

TEST(SniffFormat, UnknownForShortOrForeignData) {
  for (std::string_view bytes : {""sv, "\xFF"sv, "\xFF\xD8"sv, "GIF8"sv, "RIFF\0\0\0\0WAVE"sv,
                                 "\0\0\0\x18"
                                 "ftypmp42"sv,
                                 "%PDF-1.7"sv, "hello world"sv, "<html></html>"sv, "\0\0\2\0"sv}) {
    EXPECT_EQ(SniffFormat(bytes), ImageFormat::kUnknown) << bytes;
  }
}

class CanEncodeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_EQ(vips_init("transforms_format_test"), 0); }

  static bool LibvipsHasSaver(const char* suffix) {
    const bool found = vips_foreign_find_save_buffer(suffix) != nullptr;
    vips_error_clear();
    return found;
  }
};

TEST_F(CanEncodeTest, CoreFormatsAreWritable) {
  EXPECT_TRUE(CanEncode(ImageFormat::kJpeg));
  EXPECT_TRUE(CanEncode(ImageFormat::kPng));
}

TEST_F(CanEncodeTest, AgreesWithLibvipsSavers) {
  EXPECT_EQ(CanEncode(ImageFormat::kWebp), LibvipsHasSaver(".webp"));
  EXPECT_EQ(CanEncode(ImageFormat::kGif), LibvipsHasSaver(".gif"));
  EXPECT_EQ(CanEncode(ImageFormat::kTiff), LibvipsHasSaver(".tif"));
  EXPECT_EQ(CanEncode(ImageFormat::kJxl), LibvipsHasSaver(".jxl"));
}

// Debian 12's libheif is built with an AV1 encoder (aom), although libvips 8.14 registers no
// ".avif" suffix for it.
TEST_F(CanEncodeTest, AvifThroughHeifSaver) { EXPECT_TRUE(CanEncode(ImageFormat::kAvif)); }

TEST_F(CanEncodeTest, NeverForFormatsWeDoNotWrite) {
  EXPECT_FALSE(CanEncode(ImageFormat::kUnknown));
  EXPECT_FALSE(CanEncode(ImageFormat::kHeic));
  EXPECT_FALSE(CanEncode(ImageFormat::kSvg));
  EXPECT_FALSE(CanEncode(ImageFormat::kBmp));
  EXPECT_FALSE(CanEncode(ImageFormat::kIco));
}

TEST_F(CanEncodeTest, LeavesNoLibvipsErrorBehind) {
  vips_error_clear();
  for (const ImageFormat format : kAllFormats) CanEncode(format);
  EXPECT_STREQ(vips_error_buffer(), "");
}

TEST(AcceptsMimeType, ExplicitTypesOnly) {
  constexpr std::string_view kChrome =
      "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
  EXPECT_TRUE(AcceptsMimeType(kChrome, "image/avif"));
  EXPECT_TRUE(AcceptsMimeType(kChrome, "image/webp"));
  EXPECT_FALSE(AcceptsMimeType(kChrome, "image/jxl"));  // only through image/*
  EXPECT_FALSE(AcceptsMimeType("image/*,*/*", "image/webp"));
  EXPECT_FALSE(AcceptsMimeType("image/webp;q=0, image/png", "image/webp"));
  EXPECT_TRUE(AcceptsMimeType(" IMAGE/WEBP ; q=0.5", "image/webp"));
  EXPECT_FALSE(AcceptsMimeType("image/webp;q=abc", "image/webp"));
  EXPECT_FALSE(AcceptsMimeType("", "image/webp"));
}

TEST(ChooseOutputFormat, AcceptMatrix) {
  const FormatPreferences prefs;
  const bool avif = CanEncode(ImageFormat::kAvif);
  struct Case {
    std::string_view accept;
    ImageFormat want;
  };
  const Case cases[] = {
      {"image/avif,image/webp,image/*,*/*;q=0.8",
       avif ? ImageFormat::kAvif : ImageFormat::kWebp},              // Chrome
      {"image/webp,*/*", ImageFormat::kWebp},                        // Safari 14–16
      {"image/avif;q=0,image/webp", ImageFormat::kWebp},             // AVIF refused
      {"image/png,image/*;q=0.8,*/*;q=0.5", ImageFormat::kUnknown},  // old Firefox
      {"*/*", ImageFormat::kUnknown},                                // curl
      {"", ImageFormat::kUnknown},                                   // no header
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ChooseOutputFormat(ImageFormat::kJpeg, c.accept, prefs), c.want) << c.accept;
  }
  // A GIF may be animated, and AVIF output here is still: WebP keeps the frames.
  EXPECT_EQ(ChooseOutputFormat(ImageFormat::kGif, "image/avif,image/webp", prefs),
            ImageFormat::kWebp);
  // Preference order is the config's, not the header's.
  const FormatPreferences webp_first{{ImageFormat::kWebp, ImageFormat::kAvif}};
  EXPECT_EQ(ChooseOutputFormat(ImageFormat::kPng, "image/avif,image/webp", webp_first),
            ImageFormat::kWebp);
  const FormatPreferences none{{}};
  EXPECT_EQ(ChooseOutputFormat(ImageFormat::kPng, "image/avif,image/webp", none),
            ImageFormat::kUnknown);
}

TEST(FormatPreferences, Validate) {
  EXPECT_TRUE(FormatPreferences{}.Validate());
  EXPECT_TRUE((FormatPreferences{{ImageFormat::kJxl}}.Validate()));
  EXPECT_FALSE((FormatPreferences{{ImageFormat::kPng}}.Validate()));
}

TEST(CheckSvgIsSelfContained, AllowsFragmentsAndDataRejectsTheRest) {
  EXPECT_TRUE(CheckSvgIsSelfContained(R"(<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>)"));
  EXPECT_TRUE(CheckSvgIsSelfContained(
      R"svg(<svg xmlns:xlink="http://www.w3.org/1999/xlink"><use xlink:href="#a"/>)svg"
      R"svg(<image href="data:image/png;base64,AAAA"/><rect fill="url(#g)"/></svg>)svg"));
  const char* refused[] = {
      R"(<svg><image href="http://evil.example/x.png"/></svg>)",
      R"(<svg><image xlink:href = 'file:///etc/passwd'/></svg>)",
      R"(<svg><image HREF=https://evil.example/x.png /></svg>)",
      R"svg(<svg><rect style="fill:url(http://evil.example/p.svg#p)"/></svg>)svg",
      R"(<svg><style>@import "https://evil.example/a.css";</style></svg>)",
      R"(<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg/>)",
  };
  for (const char* svg : refused) {
    auto r = CheckSvgIsSelfContained(svg);
    ASSERT_FALSE(r) << svg;
    EXPECT_EQ(r.error().code, common::ErrorCode::kUnsupported);
    EXPECT_NE(r.error().message.find("SVG source refused"), std::string::npos);
  }
}

}  // namespace
}  // namespace imgorigin::transforms
