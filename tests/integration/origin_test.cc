// End-to-end behaviour of the origin core: the real binary serving generated fixtures from a
// local root, checked by format, dimensions and pixels.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include "tests/integration/harness.h"

namespace imgorigin::testing {
namespace {

std::string g_root;     // local source root with the fixtures
std::string g_outside;  // a directory next to it that must stay unreachable

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void AppendChunk(std::string& png, const char* type, const std::string& data) {
  auto be32 = [&png](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) png += static_cast<char>((v >> shift) & 0xff);
  };
  be32(static_cast<uint32_t>(data.size()));
  std::string body = std::string(type, 4) + data;
  png += body;
  be32(static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
}

// A valid-looking PNG of a few hundred bytes whose header declares width × height RGB pixels: a
// decompression bomb if anything decoded it.
std::string BombPng(uint32_t width, uint32_t height) {
  std::string png = "\x89PNG\r\n\x1a\n";
  std::string ihdr;
  for (uint32_t v : {width, height}) {
    for (int shift = 24; shift >= 0; shift -= 8) ihdr += static_cast<char>((v >> shift) & 0xff);
  }
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB, no interlace
  AppendChunk(png, "IHDR", ihdr);
  std::string rows(64 * 1024, '\0');
  uLongf size = compressBound(static_cast<uLong>(rows.size()));
  std::string idat(size, '\0');
  compress(reinterpret_cast<Bytef*>(idat.data()), &size,
           reinterpret_cast<const Bytef*>(rows.data()), static_cast<uLong>(rows.size()));
  idat.resize(size);
  AppendChunk(png, "IDAT", idat);
  AppendChunk(png, "IEND", "");
  return png;
}

// 1200×800 in four flat quadrants: red top-left, green top-right, blue bottom-left, white
// bottom-right, so crops and gravities can be told apart by colour.
vips::VImage Quadrants() {
  auto block = [](double r, double g, double b) {
    return (vips::VImage::black(600, 400) + std::vector<double>{r, g, b}).cast(VIPS_FORMAT_UCHAR);
  };
  auto top = block(255, 0, 0).join(block(0, 255, 0), VIPS_DIRECTION_HORIZONTAL);
  auto bottom = block(0, 0, 255).join(block(255, 255, 255), VIPS_DIRECTION_HORIZONTAL);
  return top.join(bottom, VIPS_DIRECTION_VERTICAL).copy(
      vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

std::vector<double> PixelAt(const vips::VImage& im, int x, int y) { return im.getpoint(x, y); }

class OriginTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    vips_init("origin_test");
    g_root = MakeTempDir();
    g_outside = MakeTempDir();
    Quadrants().jpegsave((g_root + "/quadrants.jpg").c_str(),
                         vips::VImage::option()->set("Q", 95));
    mkdir((g_root + "/nested dir").c_str(), 0755);
    Quadrants().resize(0.25).pngsave((g_root + "/nested dir/small ü.png").c_str());
    WriteFile(g_root + "/bomb.png", BombPng(30000, 30000));
    WriteFile(g_root + "/garbage.jpg", "this is not an image at all");
    std::string jpeg = ReadFile(g_root + "/quadrants.jpg");
    WriteFile(g_root + "/truncated.jpg", jpeg.substr(0, jpeg.size() / 3));
    Quadrants().jpegsave((g_outside + "/secret.jpg").c_str());
    symlink((g_outside + "/secret.jpg").c_str(), (g_root + "/escape.jpg").c_str());
  }

  static std::map<std::string, std::string> Env(std::map<std::string, std::string> extra = {}) {
    std::map<std::string, std::string> env = {
        {"IMGORIGIN_BIND", "127.0.0.1:0"},
        {"IMGORIGIN_KEY", kKeyHex},
        {"IMGORIGIN_SALT", kSaltHex},
        {"IMGORIGIN_LOCAL_ROOT", g_root},
        {"IMGORIGIN_LOOPS", "2"},
    };
    for (auto& [k, v] : extra) env[k] = v;
    return env;
  }

  void SetUp() override {
    server_ = std::make_unique<OriginProcess>(Env());
    ASSERT_TRUE(server_->started()) << server_->output();
  }

  HttpResponse Get(const std::string& path, const std::vector<std::string>& headers = {}) {
    return server_->Get(Signed(path), headers);
  }

  double MetricNow(const std::string& name) {
    return Metric(server_->Get("/metrics").body, name);
  }

  std::unique_ptr<OriginProcess> server_;
};

TEST_F(OriginTest, ResizesAndMatchesReferencePixels) {
  auto r = Get("/rs:fit:300:0/plain/local:///quadrants.jpg");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "image/jpeg");
  EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));
  auto out = Decode(r.body);
  EXPECT_EQ(out.width(), 300);
  EXPECT_EQ(out.height(), 200);
  auto reference = vips::VImage::thumbnail((g_root + "/quadrants.jpg").c_str(), 300);
  EXPECT_LT(MeanAbsDiff(out, reference), 3.0);
}

TEST_F(OriginTest, FillWithGravityKeepsTheRightCorner) {
  auto r = Get("/rs:fill:100:100/g:nowe/plain/local:///quadrants.jpg@png");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "image/png");
  auto out = Decode(r.body);
  ASSERT_EQ(out.width(), 100);
  ASSERT_EQ(out.height(), 100);
  // The crop keeps the full height and the left 800 of 1200 source columns: red, then green.
  auto px = PixelAt(out, 20, 20);
  EXPECT_GT(px[0], 230);
  EXPECT_LT(px[1], 30);
  EXPECT_LT(px[2], 30);
}

TEST_F(OriginTest, OutputFormatsByExtensionAndOption) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/w:120/plain/local:///quadrants.jpg@webp", "image/webp"},
      {"/w:120/f:png/plain/local:///quadrants.jpg", "image/png"},
      {"/w:120/plain/local:///quadrants.jpg@gif", "image/gif"},
      {"/w:120/plain/local:///quadrants.jpg@avif", "image/avif"},
  };
  for (const auto& [path, mime] : cases) {
    auto r = Get(path);
    ASSERT_EQ(r.status, 200) << path << ": " << r.body;
    EXPECT_EQ(r.header("Content-Type"), mime) << path;
    EXPECT_EQ(Decode(r.body).width(), 120) << path;
  }
}

TEST_F(OriginTest, Base64SourceAndEscapedPlainSource) {
  auto r = Get("/w:50/bG9jYWw6Ly8vcXVhZHJhbnRzLmpwZw.png");  // local:///quadrants.jpg
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(LoaderOf(r.body), "pngload");
  auto escaped = Get("/w:50/plain/local:///nested%20dir/small%20%C3%BC.png");
  ASSERT_EQ(escaped.status, 200) << escaped.body;
  EXPECT_EQ(Decode(escaped.body).width(), 50);
}

TEST_F(OriginTest, CdnHeaders) {
  auto r = Get("/rs:fit:64:64/fn:product%20shot/plain/local:///quadrants.jpg@webp");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(r.header("Vary"), "");  // the format was not negotiated
  EXPECT_EQ(r.header("X-Cache"), "MISS");
  EXPECT_TRUE(r.header("ETag").starts_with("\"")) << r.header("ETag");
  EXPECT_FALSE(r.header("Last-Modified").empty());
  EXPECT_TRUE(r.header("Cache-Tag").starts_with("s-"));
  EXPECT_NE(r.header("Server-Timing").find("transform;dur="), std::string::npos);
  EXPECT_EQ(r.header("Content-Disposition"), "inline; filename=\"product shot.webp\"");
  EXPECT_FALSE(r.header("X-Request-Id").empty());

  auto again = Get("/rs:fit:64:64/fn:product%20shot/plain/local:///quadrants.jpg@webp");
  EXPECT_EQ(again.header("X-Cache"), "HIT-MEMORY");
  EXPECT_EQ(again.body, r.body);
  EXPECT_EQ(again.header("ETag"), r.header("ETag"));

  auto attachment = Get("/w:64/att:1/plain/local:///quadrants.jpg");
  EXPECT_EQ(attachment.header("Content-Disposition"), "attachment; filename=\"quadrants.jpg\"");
}

TEST_F(OriginTest, EquivalentUrlsShareOneVariant) {
  auto a = Get("/resize:fill:80:60/gravity:so/plain/local:///quadrants.jpg@png");
  auto b = Get("/g:so/rs:fill:80:60:0/plain/local:///quadrants.jpg@png");
  ASSERT_EQ(a.status, 200);
  ASSERT_EQ(b.status, 200);
  EXPECT_EQ(a.header("ETag"), b.header("ETag"));
  EXPECT_EQ(b.header("X-Cache"), "HIT-MEMORY");
}

TEST_F(OriginTest, IfNoneMatchGives304WithoutRendering) {
  auto r = Get("/w:90/plain/local:///quadrants.jpg");
  ASSERT_EQ(r.status, 200);
  double renders = MetricNow("imgorigin_renders_total");
  auto cached = Get("/w:90/plain/local:///quadrants.jpg", {"If-None-Match: " + r.header("ETag")});
  EXPECT_EQ(cached.status, 304);
  EXPECT_TRUE(cached.body.empty());
  EXPECT_EQ(cached.header("ETag"), r.header("ETag"));
  // A variant never rendered on this server still answers 304 from the URL alone.
  auto fresh = std::make_unique<OriginProcess>(Env());
  auto other = fresh->Get(Signed("/w:90/plain/local:///quadrants.jpg"),
                          {"If-None-Match: W/\"x\", " + r.header("ETag")});
  EXPECT_EQ(other.status, 304);
  EXPECT_EQ(Metric(fresh->Get("/metrics").body, "imgorigin_renders_total"), 0);
  EXPECT_EQ(MetricNow("imgorigin_renders_total"), renders);
}

TEST_F(OriginTest, HeadSendsHeadersOnly) {
  auto get = Get("/w:70/plain/local:///quadrants.jpg");
  auto head = HttpRequest(server_->port(), Signed("/w:70/plain/local:///quadrants.jpg"), {}, "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(head.header("Content-Length"), std::to_string(get.body.size()));
  EXPECT_EQ(head.header("Content-Type"), "image/jpeg");
}

TEST_F(OriginTest, TamperedSignatureIs403) {
  std::string url = Signed("/w:100/plain/local:///quadrants.jpg");
  std::string tampered = url;
  tampered.replace(tampered.find("w:100"), 5, "w:101");
  auto r = server_->Get(tampered);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("signature"), std::string::npos);
  EXPECT_EQ(r.header("Cache-Control"), "no-store");
  EXPECT_EQ(server_->Get("/w:100/plain/local:///quadrants.jpg").status, 403);
  // The query string is not signed and does not break the signature.
  EXPECT_EQ(server_->Get(url + "?utm=1").status, 200);
}

TEST_F(OriginTest, ExpiredUrlIs403AndExpiryCapsCaching) {
  EXPECT_EQ(Get("/exp:1000/w:10/plain/local:///quadrants.jpg").status, 403);
  int64_t soon = time(nullptr) + 120;
  auto r = Get("/exp:" + std::to_string(soon) + "/w:10/plain/local:///quadrants.jpg");
  ASSERT_EQ(r.status, 200);
  int max_age = std::stoi(r.header("Cache-Control").substr(r.header("Cache-Control").find("max-age=") + 8));
  EXPECT_LE(max_age, 120);
  EXPECT_GT(max_age, 60);
}

TEST_F(OriginTest, RepeatedlyHitUrlStillExpires) {
  const int64_t expiry = time(nullptr) + 2;
  const std::string path = "/exp:" + std::to_string(expiry) + "/w:12/plain/local:///quadrants.jpg";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Get(path).status, 200);
  EXPECT_EQ(Get(path).header("X-Cache"), "HIT-MEMORY");
  while (time(nullptr) <= expiry) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Get(path).status, 403);
}

TEST_F(OriginTest, BadOptionIs400NamingTheOption) {
  auto r = Get("/frobnicate:3/plain/local:///quadrants.jpg");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("frobnicate"), std::string::npos) << r.body;
  auto bad_arg = Get("/rs:fill:abc/plain/local:///quadrants.jpg");
  EXPECT_EQ(bad_arg.status, 400);
  EXPECT_NE(bad_arg.body.find("abc"), std::string::npos) << bad_arg.body;
  EXPECT_EQ(Get("/w:100000/plain/local:///quadrants.jpg").status, 400);
}

TEST_F(OriginTest, MissingAndJailedSourcesAre404) {
  auto missing = Get("/w:10/plain/local:///nope.jpg");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.header("Cache-Control"), "public, max-age=60");
  EXPECT_EQ(Get("/w:10/plain/local:///escape.jpg").status, 404);  // symlink out of the root
  EXPECT_EQ(Get("/w:10/plain/local:///../" + g_outside.substr(g_outside.rfind('/') + 1) +
                "/secret.jpg").status,
            404);
  EXPECT_EQ(Get("/w:10/plain/local:///nested%20dir/..%2F..%2Fetc/passwd").status, 404);
  for (const auto& body : {missing.body}) {
    EXPECT_EQ(body.find(g_root), std::string::npos) << "error leaks a path: " << body;
  }
}

TEST_F(OriginTest, BadImagesGetClearErrors) {
  auto garbage = Get("/w:10/plain/local:///garbage.jpg");
  EXPECT_EQ(garbage.status, 415) << garbage.body;
  auto truncated = Get("/w:10/plain/local:///truncated.jpg");
  EXPECT_EQ(truncated.status, 422) << truncated.body;
  EXPECT_EQ(truncated.body.find("vips"), std::string::npos) << truncated.body;
}

TEST_F(OriginTest, DecompressionBombRejectedWithoutDecoding) {
  auto r = Get("/w:100/plain/local:///bomb.png");
  EXPECT_EQ(r.status, 413) << r.body;
  // Refused by the header check, which names the dimensions it read: nothing was decoded.
  EXPECT_NE(r.body.find("30000"), std::string::npos) << r.body;
}

TEST_F(OriginTest, OversizedSourceBytesAre413) {
  OriginProcess small(Env({{"IMGORIGIN_MAX_SRC_BYTES", "1KiB"}}));
  ASSERT_TRUE(small.started());
  EXPECT_EQ(small.Get(Signed("/w:10/plain/local:///quadrants.jpg")).status, 413);
}

TEST_F(OriginTest, RenderOverTheMemoryLimitIs413AndTheBudgetIsInMetrics) {
  OriginProcess small(Env({{"IMGORIGIN_MAX_RENDER_MEMORY", "20MiB"},
                           {"IMGORIGIN_RENDER_MEMORY_BUDGET", "512MiB"}}));
  ASSERT_TRUE(small.started());
  // 1000×1000 WebP: the encoder holds the whole output, over 10 bytes per pixel.
  auto big = small.Get(Signed("/rs:force:1000:1000/el:1/f:webp/plain/local:///quadrants.jpg"));
  EXPECT_EQ(big.status, 413) << big.body;
  EXPECT_NE(big.body.find("memory"), std::string::npos) << big.body;
  EXPECT_EQ(small.Get(Signed("/w:10/plain/local:///quadrants.jpg")).status, 200);
  const auto metrics = small.Get("/metrics").body;
  EXPECT_EQ(Metric(metrics, "imgorigin_render_memory_budget_bytes"), 512.0 * (1 << 20));
  EXPECT_EQ(Metric(metrics, "imgorigin_render_memory_reserved_bytes"), 0);
  EXPECT_GT(Metric(metrics, "imgorigin_render_memory_peak_bytes"), 0);
}

TEST_F(OriginTest, LongUrlIs400) {
  std::string path = "/w:10/plain/local:///" + std::string(9000, 'a') + ".jpg";
  EXPECT_EQ(server_->Get(Signed(path)).status, 400);
}

TEST_F(OriginTest, ConcurrentIdenticalMissesRenderOnce) {
  const std::string url = Signed("/rs:fill:333:222/bl:3/plain/local:///quadrants.jpg@webp");
  constexpr int kClients = 16;
  std::vector<HttpResponse> responses(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] { responses[i] = server_->Get(url); });
  }
  for (auto& t : clients) t.join();
  for (const auto& r : responses) {
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, responses[0].body);
  }
  EXPECT_EQ(MetricNow("imgorigin_renders_total"), 1);
}

TEST_F(OriginTest, FullQueueAnswers503WithRetryAfter) {
  OriginProcess busy(Env({{"IMGORIGIN_WORKERS", "1"}, {"IMGORIGIN_QUEUE_SIZE", "0"}}));
  ASSERT_TRUE(busy.started());
  constexpr int kClients = 8;
  std::vector<HttpResponse> responses(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    // Distinct, slow variants so nothing is coalesced or cached.
    clients.emplace_back([&, i] {
      responses[i] = busy.Get(Signed("/rs:fit:1100:0/bl:" + std::to_string(20 + i) +
                                     "/plain/local:///quadrants.jpg@png"));
    });
  }
  for (auto& t : clients) t.join();
  int ok = 0, overloaded = 0;
  for (const auto& r : responses) {
    if (r.status == 200) ++ok;
    if (r.status == 503) {
      ++overloaded;
      EXPECT_EQ(r.header("Retry-After"), "1");
      EXPECT_EQ(r.header("Cache-Control"), "no-store");
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_GE(overloaded, 1);
  EXPECT_EQ(ok + overloaded, kClients);
}

TEST_F(OriginTest, SigtermFinishesInFlightRequests) {
  HttpResponse slow;
  std::thread client([&] {
    slow = server_->Get(Signed("/rs:fit:1200:0/bl:40/plain/local:///quadrants.jpg@png"));
  });
  // Wait until the request is being rendered, then ask the server to stop.
  for (int i = 0; i < 500 && Metric(server_->Get("/metrics").body,
                                    "imgorigin_cache_misses_total{tier=\"memory\"}") < 1;
       ++i) {
    usleep(2000);
  }
  EXPECT_EQ(server_->Stop(), 0);
  client.join();
  EXPECT_EQ(slow.status, 200);
  EXPECT_EQ(Decode(slow.body).width(), 1200);
}

TEST_F(OriginTest, HealthAndMethods) {
  auto health = server_->Get("/health");
  EXPECT_EQ(health.status, 200);
  auto ready = server_->Get("/ready");
  EXPECT_EQ(ready.status, 200);
  EXPECT_NE(ready.body.find("\"ready\":true"), std::string::npos) << ready.body;
  auto post = HttpRequest(server_->port(), "/health", {}, "POST");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.header("Allow"), "GET, HEAD");
}

TEST_F(OriginTest, UrlFromImgproxyNodeLibrary) {
  std::string cmd = std::string("cd ") + IMGORIGIN_SOURCE_DIR +
                    "/tests && node integration/imgproxy_node_url.mjs " + kKeyHex + " " + kSaltHex +
                    " local:///quadrants.jpg "
                    "'{\"resizing_type\":\"fill\",\"width\":150,\"height\":100,"
                    "\"gravity\":{\"type\":\"so\"},\"format\":\"webp\"}'";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buf[2048] = {};
  size_t n = fread(buf, 1, sizeof buf - 1, pipe);
  ASSERT_EQ(pclose(pipe), 0) << "node failed: " << std::string(buf, n);
  std::string path(buf, n);
  while (!path.empty() && path.back() == '\n') path.pop_back();
  auto r = server_->Get(path);
  ASSERT_EQ(r.status, 200) << path << ": " << r.body;
  EXPECT_EQ(r.header("Content-Type"), "image/webp");
  auto out = Decode(r.body);
  EXPECT_EQ(out.width(), 150);
  EXPECT_EQ(out.height(), 100);
}

TEST(OriginStartup, RefusesToStartWithoutKeys) {
  std::string out;
  int status = RunBinary({"serve"}, {{"IMGORIGIN_BIND", "127.0.0.1:0"}}, &out);
  EXPECT_EQ(status, 2);
  EXPECT_NE(out.find("IMGORIGIN_KEY"), std::string::npos) << out;
}

TEST(OriginStartup, UnsignedModeMustBeExplicit) {
  vips_init("origin_test");
  std::string root = MakeTempDir();
  Quadrants().jpegsave((root + "/q.jpg").c_str());
  OriginProcess server({{"IMGORIGIN_BIND", "127.0.0.1:0"},
                        {"IMGORIGIN_ALLOW_UNSIGNED", "true"},
                        {"IMGORIGIN_LOCAL_ROOT", root}});
  ASSERT_TRUE(server.started()) << server.output();
  EXPECT_EQ(server.Get("/insecure/w:20/plain/local:///q.jpg").status, 200);
}

TEST(OriginStartup, BadConfigIsAClearError) {
  std::string out;
  EXPECT_EQ(RunBinary({"serve"}, {{"IMGORIGIN_KEY", kKeyHex}, {"IMGORIGIN_SALT", kSaltHex},
                                  {"IMGORIGIN_MAX_SRC_BYTES", "lots"}},
                      &out),
            2);
  EXPECT_NE(out.find("IMGORIGIN_MAX_SRC_BYTES"), std::string::npos) << out;
}

TEST(SignCommand, MatchesImgproxyTestVector) {
  std::string out;
  const std::string path =
      "/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png";
  ASSERT_EQ(RunBinary({"sign", path},
                      {{"IMGORIGIN_KEY", "736563726574"}, {"IMGORIGIN_SALT", "68656C6C6F"}}, &out),
            0)
      << out;
  EXPECT_EQ(out, "/oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8" + path + "\n");
}

}  // namespace
}  // namespace imgorigin::testing
