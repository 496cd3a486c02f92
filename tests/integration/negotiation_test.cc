// Format negotiation, client hints, watermark configuration and /info over HTTP, against the
// real binary.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

namespace imgorigin::testing {
namespace {

std::string g_root;

class NegotiationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    vips_init("negotiation_test");
    g_root = MakeTempDir();
    auto xy = vips::VImage::xyz(640, 480);
    auto x = xy.extract_band(0) * (255.0 / 640);
    auto y = xy.extract_band(1) * (255.0 / 480);
    auto photo = x.bandjoin(y).bandjoin(x * 0.5).cast(VIPS_FORMAT_UCHAR).copy(
        vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
    photo.jpegsave((g_root + "/photo.jpg").c_str());
    auto mark = (vips::VImage::black(64, 64) + std::vector<double>{255, 0, 0, 255})
                    .cast(VIPS_FORMAT_UCHAR)
                    .copy(vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
    mark.pngsave((g_root + "/mark.png").c_str());
    // Three 32×32 frames of different grey (identical frames would be merged), 100/200/300 ms.
    auto frames = vips::VImage::xyz(32, 96).extract_band(1) / 32 * 80;
    frames = frames.bandjoin(frames).bandjoin(frames).cast(VIPS_FORMAT_UCHAR).copy(
        vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
    frames.set("page-height", 32);
    frames.set("delay", std::vector<int>{100, 200, 300});
    frames.set("loop", 0);
    frames.gifsave((g_root + "/anim.gif").c_str());
  }

  std::unique_ptr<OriginProcess> Start(std::map<std::string, std::string> extra = {}) {
    std::map<std::string, std::string> env = {{"IMGORIGIN_BIND", "127.0.0.1:0"},
                                              {"IMGORIGIN_KEY", kKeyHex},
                                              {"IMGORIGIN_SALT", kSaltHex},
                                              {"IMGORIGIN_LOCAL_ROOT", g_root}};
    for (auto& [k, v] : extra) env[k] = v;
    auto server = std::make_unique<OriginProcess>(env);
    EXPECT_TRUE(server->started()) << server->output();
    return server;
  }
};

TEST_F(NegotiationTest, AcceptPicksFormatAndVaries) {
  auto server = Start();
  const std::string url = Signed("/rs:fit:200:0/plain/local:///photo.jpg");
  struct Case {
    std::string accept, mime;
  };
  for (const auto& c : std::vector<Case>{
           {"image/avif,image/webp,image/apng,image/*,*/*;q=0.8", "image/avif"},
           {"image/webp,*/*", "image/webp"},
           {"image/avif;q=0,image/webp", "image/webp"},
           {"image/*,*/*;q=0.8", "image/jpeg"},
           {"", "image/jpeg"},
       }) {
    auto r = server->Get(url, {"Accept: " + c.accept});
    ASSERT_EQ(r.status, 200) << c.accept << ": " << r.body;
    EXPECT_EQ(r.header("Content-Type"), c.mime) << c.accept;
    EXPECT_EQ(r.header("Vary"), "Accept") << c.accept;
    EXPECT_EQ(Decode(r.body).width(), 200) << c.accept;
  }
  // Different Accept values that choose the same format share one cached variant.
  auto chrome = server->Get(url, {"Accept: image/webp,image/apng,*/*;q=0.8"});
  EXPECT_EQ(chrome.header("X-Cache"), "HIT-MEMORY");
  EXPECT_EQ(chrome.header("Content-Type"), "image/webp");
  // An explicit format is not negotiated.
  auto explicit_png = server->Get(Signed("/rs:fit:200:0/plain/local:///photo.jpg@png"),
                                  {"Accept: image/avif,image/webp"});
  EXPECT_EQ(explicit_png.header("Content-Type"), "image/png");
  EXPECT_EQ(explicit_png.header("Vary"), "");
}

TEST_F(NegotiationTest, RepeatsOfOnePathKeepTheirNegotiation) {
  // A path answered from memory is remembered with its plan (hot paths): the request headers
  // the plan depends on must still choose the variant, whatever was asked before.
  // No format upgrade: a URL without a size is estimated as a large AVIF, and this test is about
  // the plan, not the stand-in (format_upgrade_test.cc).
  auto server = Start({{"IMGORIGIN_CLIENT_HINTS", "true"}, {"IMGORIGIN_UPGRADE_BUDGET_MS", "0"}});
  const std::string url = Signed("/plain/local:///photo.jpg");
  struct Case {
    std::vector<std::string> headers;
    std::string mime;
    int width;
  };
  const std::vector<Case> cases = {
      {{"Accept: image/webp"}, "image/webp", 640},
      {{"Accept: image/avif"}, "image/avif", 640},
      {{}, "image/jpeg", 640},
      {{"Accept: image/webp", "Sec-CH-Width: 320"}, "image/webp", 320},
      {{"Sec-CH-Width: 160"}, "image/jpeg", 160},
  };
  for (int round = 0; round < 3; ++round) {
    for (const auto& c : cases) {
      auto r = server->Get(url, c.headers);
      ASSERT_EQ(r.status, 200) << r.body;
      EXPECT_EQ(r.header("Content-Type"), c.mime) << "round " << round;
      EXPECT_EQ(Decode(r.body).width(), c.width) << "round " << round;
      EXPECT_EQ(r.header("X-Cache"), round == 0 ? "MISS" : "HIT-MEMORY") << "round " << round;
    }
  }
  // A different signature for the same options is checked afresh, never taken for the known one.
  std::string forged = url;
  forged[1] = forged[1] == 'A' ? 'B' : 'A';
  EXPECT_EQ(server->Get(forged).status, 403);
}

TEST_F(NegotiationTest, NegotiationCanBeTurnedOff) {
  auto server = Start({{"IMGORIGIN_AUTO_FORMAT", ""}});
  auto r = server->Get(Signed("/w:100/plain/local:///photo.jpg"), {"Accept: image/webp"});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "image/jpeg");
  EXPECT_EQ(r.header("Vary"), "");
}

TEST_F(NegotiationTest, AnimatedGifBecomesAnimatedWebp) {
  auto server = Start();
  auto r = server->Get(Signed("/rs:fit:16:16/plain/local:///anim.gif"), {"Accept: image/webp"});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "image/webp");
  auto out = vips::VImage::new_from_buffer(r.body.data(), r.body.size(), "",
                                           vips::VImage::option()->set("n", -1));
  EXPECT_EQ(out.get_int("n-pages"), 3);
  EXPECT_EQ(out.get_array_int("delay"), (std::vector<int>{100, 200, 300}));
  EXPECT_EQ(out.width(), 16);
}

TEST_F(NegotiationTest, ClientHintsSizeTheImage) {
  auto server = Start({{"IMGORIGIN_CLIENT_HINTS", "true"}, {"IMGORIGIN_AUTO_FORMAT", ""}});
  auto r = server->Get(Signed("/plain/local:///photo.jpg"), {"Sec-CH-DPR: 2", "Sec-CH-Width: 300"});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Decode(r.body).width(), 300);  // device pixels
  EXPECT_NE(r.header("Vary").find("Sec-CH-DPR"), std::string::npos);
  EXPECT_NE(r.header("Accept-CH").find("Sec-CH-Width"), std::string::npos);
  auto saver = server->Get(Signed("/w:300/plain/local:///photo.jpg"), {"Save-Data: on"});
  auto normal = server->Get(Signed("/w:300/plain/local:///photo.jpg"));
  EXPECT_LT(saver.body.size(), normal.body.size());
  // Without the switch, hints change nothing.
  auto plain = Start({{"IMGORIGIN_AUTO_FORMAT", ""}});
  auto ignored = plain->Get(Signed("/plain/local:///photo.jpg"), {"DPR: 2", "Width: 300"});
  EXPECT_EQ(Decode(ignored.body).width(), 640);
  EXPECT_EQ(ignored.header("Vary"), "");
}

TEST_F(NegotiationTest, WatermarkNeedsConfiguration) {
  auto bare = Start();
  EXPECT_EQ(bare->Get(Signed("/wm:1:ce/plain/local:///photo.jpg@png")).status, 400);
  auto marked = Start({{"IMGORIGIN_WATERMARK_PATH", g_root + "/mark.png"}});
  auto r = marked->Get(Signed("/wm:1:ce/plain/local:///photo.jpg@png"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto px = Decode(r.body).getpoint(320, 240);  // the opaque red mark sits in the centre
  EXPECT_GT(px[0], 230);
  EXPECT_LT(px[1], 30);
  // The same URL without a watermark configured would be another image: another key.
  EXPECT_NE(r.header("ETag"), bare->Get(Signed("/wm:1:ce/plain/local:///photo.jpg@png")).header("ETag"));
}

TEST_F(NegotiationTest, InfoEndpoint) {
  auto server = Start();
  auto r = server->Get("/info" + Signed("/plain/local:///photo.jpg"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  auto info = nlohmann::json::parse(r.body);
  EXPECT_EQ(info["width"], 640);
  EXPECT_EQ(info["height"], 480);
  EXPECT_EQ(info["format"], "jpg");
  EXPECT_EQ(info["alpha"], false);
  EXPECT_EQ(info["pages"], 1);
  EXPECT_EQ(info["orientation"], 1);
  EXPECT_EQ(info["colour_space"], "srgb");
  EXPECT_GT(info["bytes"].get<int64_t>(), 1000);
  EXPECT_EQ(info["blurhash"].get<std::string>().size(), 4u + 2 * 4 * 3);  // 4×3 components
  EXPECT_EQ(info["dominant_colour"].get<std::string>().size(), 7u);

  auto mark = nlohmann::json::parse(server->Get("/info" + Signed("/plain/local:///mark.png")).body);
  EXPECT_EQ(mark["alpha"], true);
  EXPECT_EQ(mark["dominant_colour"], "#ff0000");

  EXPECT_EQ(server->Get("/info/bad/plain/local:///photo.jpg").status, 403);
  EXPECT_EQ(server->Get("/info" + Signed("/plain/local:///nope.jpg")).status, 404);
}

}  // namespace
}  // namespace imgorigin::testing
