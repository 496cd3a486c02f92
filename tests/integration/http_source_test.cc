// http(s):// sources end to end: the real binary against loopback stub servers
// (tests/integration/http_stub.mjs). The SSRF cases run with private networks NOT allowed, so
// the guard is what refuses them; no request ever leaves 127.0.0.0/8 (169.254.169.254 is refused
// before a socket is opened).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "tests/integration/harness.h"
#include "tests/integration/node_stub.h"

namespace imgorigin::testing {
namespace {

namespace fs = std::filesystem;

std::string g_files;

vips::VImage Halves() {
  auto flat = [](double r, double g, double b) {
    return (vips::VImage::black(200, 150) + std::vector<double>{r, g, b}).cast(VIPS_FORMAT_UCHAR);
  };
  return flat(255, 0, 0).join(flat(0, 0, 255), VIPS_DIRECTION_HORIZONTAL).copy(
      vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

class HttpSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (g_files.empty()) {
      vips_init("http_source_test");
      g_files = MakeTempDir();
      Halves().jpegsave((g_files + "/a.jpg").c_str());
      Halves().jpegsave((g_files + "/a b ü.jpg").c_str());
      // 3 MiB: a JPEG followed by padding, for the byte cap.
      Halves().jpegsave((g_files + "/big.jpg").c_str());
      std::ofstream(g_files + "/big.jpg", std::ios::app | std::ios::binary) << std::string(3 << 20, '\0');
    }
    stub_ = std::make_unique<NodeStub>("http_stub.mjs", std::vector<std::string>{"--dir", g_files});
    IMGORIGIN_REQUIRE_STUB(*stub_);
    port_ = stub_->port("http");
  }

  std::unique_ptr<OriginProcess> Start(std::map<std::string, std::string> extra = {}) {
    std::map<std::string, std::string> env = {
        {"IMGORIGIN_BIND", "127.0.0.1:0"},       {"IMGORIGIN_KEY", kKeyHex},
        {"IMGORIGIN_SALT", kSaltHex},            {"IMGORIGIN_LOOPS", "2"},
        {"IMGORIGIN_SOURCE_RETRY_BACKOFF_MS", "20"},
    };
    for (auto& [k, v] : extra) env[k] = v;
    auto origin = std::make_unique<OriginProcess>(env);
    EXPECT_TRUE(origin->started()) << origin->output();
    return origin;
  }
  std::unique_ptr<OriginProcess> StartTrusting(std::map<std::string, std::string> extra = {}) {
    extra["IMGORIGIN_HTTP_ALLOW_PRIVATE_NETWORKS"] = "true";
    return Start(std::move(extra));
  }

  static HttpResponse Get(const OriginProcess& origin, const std::string& source) {
    return origin.Get(Signed("/rs:fit:100:0/plain/" + EscapePlain(source)));
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  long Hits(const std::string& path) const { return StatCount(StubStats(port_), path); }

  std::unique_ptr<NodeStub> stub_;
  uint16_t port_ = 0;
};

void ExpectHalves(const HttpResponse& r) {
  ASSERT_EQ(r.status, 200) << r.body;
  auto image = Decode(r.body);
  ASSERT_EQ(image.width(), 100);
  EXPECT_LT(MeanAbsDiff(image, Halves().resize(0.25)), 4.0);
}

TEST_F(HttpSourceTest, FetchesWhenPrivateNetworksAreAllowed) {
  auto origin = StartTrusting();
  ExpectHalves(Get(*origin, Url("/img/a.jpg")));
  // Spaces and UTF-8 in the URL are percent-encoded on the way out.
  ExpectHalves(Get(*origin, Url("/img/a b ü.jpg")));
  EXPECT_EQ(Hits("/img/a b ü.jpg"), 1);
}

TEST_F(HttpSourceTest, SsrfGuardRefusesLoopbackMetadataAndMappedAddresses) {
  auto origin = Start();  // allow-private off: the default
  const std::string port = std::to_string(port_);
  for (const std::string& url : std::vector<std::string>{
           "http://127.0.0.1:" + port + "/img/a.jpg", "http://localhost:" + port + "/img/a.jpg",
        "http://[::ffff:127.0.0.1]:" + port + "/img/a.jpg", "http://[::1]:" + port + "/img/a.jpg",
        "http://0.0.0.0:" + port + "/img/a.jpg", "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/"}) {
    SCOPED_TRACE(url);
    auto r = Get(*origin, url);
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_NE(r.body.find("not allowed"), std::string::npos) << r.body;
  }
  EXPECT_EQ(Hits("/img/a.jpg"), 0);  // never connected
}

// An exempt network (the stub on 127.0.0.2) is reachable; a redirect from it to a blocked address
// is refused at the hop, by the address actually connected to.
TEST_F(HttpSourceTest, RedirectToABlockedAddressIsRefused) {
  NodeStub exempt("http_stub.mjs", {"--dir", g_files, "--host", "127.0.0.2"});
  IMGORIGIN_REQUIRE_STUB(exempt);
  auto origin = Start({{"IMGORIGIN_HTTP_ALLOWED_NETWORKS", "127.0.0.2/32"}});
  const std::string base = "http://127.0.0.2:" + std::to_string(exempt.port("http"));
  ExpectHalves(Get(*origin, base + "/img/a.jpg"));
  for (const std::string& target : std::vector<std::string>{
           Url("/img/a.jpg"), "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]:" + std::to_string(port_) + "/img/a.jpg"}) {
    SCOPED_TRACE(target);
    auto r = Get(*origin, base + "/img/r.jpg?redirect=" + EscapePlain(target));
    EXPECT_EQ(r.status, 403) << r.body;
  }
  EXPECT_EQ(StatCount(StubStats(exempt.port("http"), "127.0.0.2"), "/img/r.jpg"), 3);
  EXPECT_EQ(Hits("/img/a.jpg"), 0);
}

TEST_F(HttpSourceTest, PrefixAllowlistIsCheckedAtEveryHop) {
  auto origin = StartTrusting({{"IMGORIGIN_HTTP_ALLOWED_PREFIXES", Url("/img/")}});
  ExpectHalves(Get(*origin, Url("/img/a.jpg")));
  EXPECT_EQ(Get(*origin, Url("/a.jpg")).status, 403);
  EXPECT_EQ(Get(*origin, "http://127.0.0.1:" + std::to_string(port_) + ".evil/img/a.jpg").status, 403);
  auto r = Get(*origin, Url("/img/r.jpg?redirect=") + EscapePlain(Url("/a.jpg")));
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(Hits("/a.jpg"), 0);
  ExpectHalves(Get(*origin, Url("/img/r2.jpg?redirect=") + EscapePlain(Url("/img/a.jpg"))));
}

// The prefix is checked on the URL as it goes out, but the server resolves dot segments (the stub
// does as WHATWG URL parsing does: "%2e" too, and it serves by base name, so "..%2f" reaches
// /a.jpg). Every spelling is refused, at the first hop and after a redirect, before any request.
TEST_F(HttpSourceTest, DotSegmentsCannotLeaveTheAllowedPrefix) {
  auto origin = StartTrusting({{"IMGORIGIN_HTTP_ALLOWED_PREFIXES", Url("/img/")}});
  for (const char* path :
       {"/img/../a.jpg", "/img/./../a.jpg", "/img/%2e%2e/a.jpg", "/img/%2E%2e/a.jpg",
        "/img/.%2e/a.jpg", "/img/..%2fa.jpg", "/img/%2e%2e%2Fa.jpg", "/img/..%5ca.jpg",
        "/img/..;/a.jpg", "/img/%252e%252e/a.jpg"}) {
    SCOPED_TRACE(path);
    auto r = Get(*origin, Url(path));
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_NE(r.body.find("source URL is not allowed"), std::string::npos) << r.body;
  }
  auto r = Get(*origin, Url("/img/r.jpg?redirect=") + EscapePlain(Url("/img/../a.jpg")));
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(StubStats(port_), "{\"/img/r.jpg\":1}");  // the redirecting hop, nothing else
  // Dots inside a name are not segments.
  std::filesystem::copy_file(g_files + "/a.jpg", g_files + "/a..b.jpg",
                             std::filesystem::copy_options::overwrite_existing);
  ExpectHalves(Get(*origin, Url("/img/a..b.jpg")));
}

TEST_F(HttpSourceTest, RedirectLimit) {
  auto origin = StartTrusting({{"IMGORIGIN_HTTP_MAX_REDIRECTS", "2"}});
  ExpectHalves(Get(*origin, Url("/img/a.jpg?hops=2")));
  auto r = Get(*origin, Url("/img/a.jpg?hops=3"));
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_NE(r.body.find("redirected more than 2"), std::string::npos) << r.body;
}

TEST_F(HttpSourceTest, UpstreamStatusMapping) {
  auto origin = StartTrusting({{"IMGORIGIN_SOURCE_TIMEOUT_MS", "1500"}});
  auto not_found = Get(*origin, Url("/status/404"));
  EXPECT_EQ(not_found.status, 404);
  EXPECT_EQ(not_found.header("Cache-Control"), "public, max-age=60");
  auto forbidden = Get(*origin, Url("/status/403"));
  EXPECT_EQ(forbidden.status, 502);
  EXPECT_NE(forbidden.body.find("refused access (403)"), std::string::npos) << forbidden.body;
  EXPECT_EQ(Get(*origin, Url("/status/500")).status, 502);
  EXPECT_EQ(Hits("/status/500"), 3);  // first try + 2 retries (the default)
  ExpectHalves(Get(*origin, Url("/flaky/a.jpg")));
  EXPECT_EQ(Hits("/flaky/a.jpg"), 3);
  EXPECT_EQ(Get(*origin, Url("/stall")).status, 504);
  // A port nobody listens on (the stub's, after it is gone): connection refused.
  const std::string dead = Url("/img/a.jpg");
  stub_.reset();
  auto refused = Get(*origin, dead);
  EXPECT_EQ(refused.status, 502) << refused.body;
}

TEST_F(HttpSourceTest, ByteCapIsEnforcedWhileStreaming) {
  auto origin = StartTrusting({{"IMGORIGIN_MAX_SRC_BYTES", "1MiB"}});
  EXPECT_EQ(Get(*origin, Url("/img/big.jpg")).status, 413);      // Content-Length over the cap
  EXPECT_EQ(Get(*origin, Url("/chunked/big.jpg")).status, 413);  // no length: cut while reading
  ExpectHalves(Get(*origin, Url("/chunked/a.jpg")));
}

// imgproxy's cachebuster: replacing an original at the same URL and changing "cb:" must show the
// new original (a fetch and a render of its own), while the old cb keeps its cached render and
// variants of one cb share one fetch.
TEST_F(HttpSourceTest, CachebusterFetchesAndRendersAgain) {
  const std::string file = g_files + "/cb.jpg";
  Halves().jpegsave(file.c_str());
  auto origin = StartTrusting();
  const std::string source = EscapePlain(Url("/img/cb.jpg"));
  auto get = [&](const std::string& options) {
    return origin->Get(Signed(options + "/rs:fit:100:0/plain/" + source));
  };
  ExpectHalves(get(""));
  ExpectHalves(get("/cb:1"));
  EXPECT_EQ(Hits("/img/cb.jpg"), 2);

  // Replaced at the same URL: green now.
  (vips::VImage::black(400, 150) + std::vector<double>{0, 255, 0})
      .cast(VIPS_FORMAT_UCHAR)
      .copy(vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB))
      .jpegsave(file.c_str());
  auto green = [](const HttpResponse& r) {
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) return false;
    auto pixel = Decode(r.body).getpoint(10, 10);
    return pixel[0] < 30 && pixel[1] > 220 && pixel[2] < 30;
  };
  auto fresh = get("/cb:2");
  EXPECT_TRUE(green(fresh));
  EXPECT_EQ(fresh.header("X-Cache"), "MISS");
  EXPECT_EQ(Hits("/img/cb.jpg"), 3);
  EXPECT_TRUE(green(origin->Get(Signed("/cachebuster:2/w:60/plain/" + source))));
  EXPECT_EQ(Hits("/img/cb.jpg"), 3);  // another variant of cb 2: the same fetch

  // The old cachebuster and no cachebuster keep what they had, from the cache.
  auto old = get("/cb:1");
  ExpectHalves(old);
  EXPECT_EQ(old.header("X-Cache"), "HIT-MEMORY");
  ExpectHalves(get(""));
  EXPECT_EQ(Hits("/img/cb.jpg"), 3);
}

TEST_F(HttpSourceTest, HttpSourcesCanBeDisabled) {
  auto origin = StartTrusting({{"IMGORIGIN_HTTP_ENABLED", "false"}});
  EXPECT_EQ(Get(*origin, Url("/img/a.jpg")).status, 404);
  EXPECT_EQ(Hits("/img/a.jpg"), 0);
}

}  // namespace
}  // namespace imgorigin::testing
