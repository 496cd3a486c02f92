// Format upgrade over HTTP, against the real binary: a negotiated format estimated over
// output.upgrade_budget_ms is first answered in a cheaper accepted one (short max-age, Vary:
// Accept, X-Format-Upgrade: pending) while it renders in the background, then served as usual.
// The estimate reads the URL's size, so w:1000 on a 640 px source is "over" the default budget
// (AVIF) while the real encode stays small and fast.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/integration/harness.h"

namespace imgorigin::testing {
namespace {

std::string g_root;

constexpr char kBrowser[] = "Accept: image/avif,image/webp,image/apng,image/*,*/*;q=0.8";
constexpr char kLongCache[] = "public, max-age=31536000, immutable";

class FormatUpgradeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    vips_init("format_upgrade_test");
    g_root = MakeTempDir();
    auto xy = vips::VImage::xyz(640, 480);
    auto x = xy.extract_band(0) * (255.0 / 640);
    auto y = xy.extract_band(1) * (255.0 / 480);
    x.bandjoin(y)
        .bandjoin(x * 0.5)
        .cast(VIPS_FORMAT_UCHAR)
        .copy(vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB))
        .jpegsave((g_root + "/photo.jpg").c_str());
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

  static double Upgrades(const OriginProcess& server, const std::string& result) {
    return Metric(server.Get("/metrics").body,
                  "imgorigin_format_upgrades_total{result=\"" + result + "\"}");
  }

  // The background render is stored once the "upgraded" counter moves: bounded wait.
  static bool WaitForUpgrade(const OriginProcess& server) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Upgrades(server, "upgraded") >= 1) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
};

// At avif_speed 5 (sharp's effort) AVIF costs ten times WebP: WebP stands in.
TEST_F(FormatUpgradeTest, ColdExpensiveFormatIsFirstAnsweredInWebpThenUpgraded) {
  auto server = Start({{"IMGORIGIN_AVIF_SPEED", "5"}});
  const std::string url = Signed("/rs:fit:1000:1000/plain/local:///photo.jpg");
  auto first = server->Get(url, {kBrowser});
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.header("Content-Type"), "image/webp");
  EXPECT_EQ(first.header("Cache-Control"), "public, max-age=60");
  EXPECT_EQ(first.header("Vary"), "Accept");
  EXPECT_EQ(first.header("X-Format-Upgrade"), "pending");
  EXPECT_EQ(Decode(first.body).width(), 640);
  EXPECT_EQ(Upgrades(*server, "fallback"), 1);

  ASSERT_TRUE(WaitForUpgrade(*server)) << server->Get("/metrics").body;
  auto upgraded = server->Get(url, {kBrowser});
  ASSERT_EQ(upgraded.status, 200);
  EXPECT_EQ(upgraded.header("Content-Type"), "image/avif");
  EXPECT_EQ(upgraded.header("Cache-Control"), kLongCache);
  EXPECT_EQ(upgraded.header("Vary"), "Accept");
  EXPECT_EQ(upgraded.header("X-Format-Upgrade"), "");
  EXPECT_TRUE(upgraded.header("X-Cache").starts_with("HIT-")) << upgraded.header("X-Cache");
  EXPECT_EQ(Decode(upgraded.body).width(), 640);
  // Repeats stay on the AVIF (the hot path remembered the real variant, not the stand-in).
  auto again = server->Get(url, {kBrowser});
  EXPECT_EQ(again.header("Content-Type"), "image/avif");
  EXPECT_EQ(again.header("X-Cache"), "HIT-MEMORY");
  EXPECT_EQ(Upgrades(*server, "fallback"), 1);
  EXPECT_EQ(Upgrades(*server, "upgraded"), 1);

  // A client that accepts only WebP shares the stand-in's variant, with the usual headers.
  auto webp = server->Get(url, {"Accept: image/webp"});
  EXPECT_EQ(webp.header("Content-Type"), "image/webp");
  EXPECT_EQ(webp.header("X-Cache"), "HIT-MEMORY");
  EXPECT_EQ(webp.header("Cache-Control"), kLongCache);
  EXPECT_EQ(webp.header("X-Format-Upgrade"), "");
}

// At the default speed AVIF costs about what WebP does, so a WebP stand-in would save the visitor
// nothing and double the work: the source's JPEG stands in even for a browser that takes WebP.
TEST_F(FormatUpgradeTest, AtTheDefaultSpeedOnlyAMuchCheaperFormatStandsIn) {
  auto server = Start();
  auto r = server->Get(Signed("/rs:fit:1000:1000/plain/local:///photo.jpg"), {kBrowser});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "image/jpeg");
  EXPECT_EQ(r.header("X-Format-Upgrade"), "pending");
  ASSERT_TRUE(WaitForUpgrade(*server));
  EXPECT_EQ(server->Get(Signed("/rs:fit:1000:1000/plain/local:///photo.jpg"), {kBrowser})
                .header("Content-Type"),
            "image/avif");
}

TEST_F(FormatUpgradeTest, WithoutWebpTheStandInIsTheSourceFormat) {
  auto server = Start();
  auto r = server->Get(Signed("/rs:fit:1000:1000/plain/local:///photo.jpg"),
                       {"Accept: image/avif,image/*"});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "image/jpeg");
  EXPECT_EQ(r.header("X-Format-Upgrade"), "pending");
  EXPECT_EQ(r.header("Cache-Control"), "public, max-age=60");
  ASSERT_TRUE(WaitForUpgrade(*server));
}

TEST_F(FormatUpgradeTest, UnderBudgetExplicitFormatOffAndJpegOnlyAreNeverUpgraded) {
  auto server = Start({{"IMGORIGIN_UPGRADE_MAX_AGE", "30"}});
  // Small output: its estimate is under the budget.
  auto small = server->Get(Signed("/rs:fit:200:200/plain/local:///photo.jpg"), {kBrowser});
  EXPECT_EQ(small.header("Content-Type"), "image/avif");
  EXPECT_EQ(small.header("X-Cache"), "MISS");
  EXPECT_EQ(small.header("Cache-Control"), kLongCache);
  // The URL names the format.
  auto named = server->Get(Signed("/rs:fit:1000:1000/plain/local:///photo.jpg@avif"), {kBrowser});
  EXPECT_EQ(named.header("Content-Type"), "image/avif");
  EXPECT_EQ(named.header("X-Format-Upgrade"), "");
  // Only JPEG negotiable: nothing cheaper to offer.
  auto jpeg = server->Get(Signed("/rs:fit:1000:1000/plain/local:///photo.jpg"),
                          {"Accept: image/jpeg,*/*"});
  EXPECT_EQ(jpeg.header("Content-Type"), "image/jpeg");
  EXPECT_EQ(jpeg.header("X-Format-Upgrade"), "");
  EXPECT_EQ(jpeg.header("Cache-Control"), kLongCache);
  // raw: the source as it is.
  auto raw = server->Get(Signed("/raw:1/plain/local:///photo.jpg"), {kBrowser});
  EXPECT_EQ(raw.header("X-Format-Upgrade"), "");
  EXPECT_EQ(Upgrades(*server, "fallback"), 0);

  // The stand-in's max-age is the setting's.
  auto big = server->Get(Signed("/rs:fit:1100:1100/plain/local:///photo.jpg"), {kBrowser});
  EXPECT_EQ(big.header("Cache-Control"), "public, max-age=30");
  ASSERT_TRUE(WaitForUpgrade(*server));
}

TEST_F(FormatUpgradeTest, ZeroBudgetTurnsItOff) {
  auto server = Start({{"IMGORIGIN_UPGRADE_BUDGET_MS", "0"}});
  auto r = server->Get(Signed("/rs:fit:1000:1000/plain/local:///photo.jpg"), {kBrowser});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "image/avif");
  EXPECT_EQ(r.header("X-Cache"), "MISS");
  EXPECT_EQ(r.header("X-Format-Upgrade"), "");
  EXPECT_EQ(Upgrades(*server, "fallback"), 0);
}

}  // namespace
}  // namespace imgorigin::testing
