// The S3 result tier end to end: real imgorigin processes sharing only a result bucket in s3rver
// behind the SigV4-verifying proxy (tests/integration/s3_stub.mjs), on loopback ports. A render
// on one node is a HIT-S3 on a fresh node; a corrupted object is rendered again, never served; a
// bucket that is down or refuses the credentials costs no request. Asserts on X-Cache, bodies,
// the stub's request log and /metrics; every wait is a bounded poll.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/integration/node_stub.h"

namespace imgorigin::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kAccessKey[] = "AKIDIMGORIGINRESULTS";
constexpr char kSecret[] = "imgorigin-results-secret";
constexpr char kApiKey[] = "test-api-key";

std::string g_root;  // local:/// originals
std::string g_seed;  // <bucket>/ directories for the stub: an empty "results" bucket

struct S3Reply {
  long status = 0;
  std::string body;
};

class S3ResultTierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    vips_init("s3_result_tier_test");
    g_root = MakeTempDir();
    auto x = vips::VImage::xyz(480, 360);
    auto gradient = (x[0] * 0.4 + x[1] * 0.3).cast(VIPS_FORMAT_UCHAR);
    gradient.bandjoin({gradient * 0.5, 255 - gradient})
        .cast(VIPS_FORMAT_UCHAR)
        .jpegsave((g_root + "/photo.jpg").c_str());
    g_seed = MakeTempDir();
    fs::create_directories(fs::path(g_seed) / "results");
  }

  void SetUp() override {
    stub_ = std::make_unique<NodeStub>(
        "s3_stub.mjs", std::vector<std::string>{"--dir", MakeTempDir(), "--seed", g_seed, "--key",
                                                std::string(kAccessKey) + ":" + kSecret});
    IMGORIGIN_REQUIRE_STUB(*stub_);
  }

  std::string Endpoint() const { return "http://127.0.0.1:" + std::to_string(stub_->port("s3")); }

  // Only the result bucket is shared: no Redis, no disk unless a test adds one, and S3 sources
  // off (originals are local files). No way to reach a real profile or metadata service.
  std::unique_ptr<OriginProcess> Start(std::map<std::string, std::string> extra = {}) const {
    std::map<std::string, std::string> env = {
        {"IMGORIGIN_BIND", "127.0.0.1:0"},
        {"IMGORIGIN_KEY", kKeyHex},
        {"IMGORIGIN_SALT", kSaltHex},
        {"IMGORIGIN_LOCAL_ROOT", g_root},
        {"IMGORIGIN_LOOPS", "2"},
        {"IMGORIGIN_WORKERS", "2"},
        {"IMGORIGIN_API_KEY", kApiKey},
        {"IMGORIGIN_GENERATION_POLL_MS", "100"},
        {"IMGORIGIN_S3_RESULT_BUCKET", "results"},
        {"IMGORIGIN_S3_RESULT_ENDPOINT", Endpoint()},
        {"IMGORIGIN_S3_PATH_STYLE", "true"},
        {"AWS_REGION", "us-east-1"},
        {"AWS_ACCESS_KEY_ID", kAccessKey},
        {"AWS_SECRET_ACCESS_KEY", kSecret},
        {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"},
        {"AWS_EC2_METADATA_DISABLED", "true"},
    };
    for (auto& [k, v] : extra) env[k] = v;
    auto origin = std::make_unique<OriginProcess>(env);
    EXPECT_TRUE(origin->started()) << origin->output();
    return origin;
  }

  static HttpResponse Get(const OriginProcess& origin, const std::string& path) {
    return origin.Get(Signed(path));
  }

  static double MetricOf(const OriginProcess& origin, const std::string& name) {
    return Metric(origin.Get("/metrics").body, name);
  }

  // Write-behind is asynchronous: poll the counter (bounded) until it reaches `at_least`.
  static bool WaitForMetric(const OriginProcess& origin, const std::string& name, double at_least) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      if (MetricOf(origin, name) >= at_least) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::string Stats() const { return StubStats(stub_->port("s3")); }

  // The object keys ("imgorigin/ab/ab…") the origin has PUT into the result bucket.
  std::vector<std::string> PutKeys() const {
    static const std::regex kPut("\"PUT results/([^\"]+)\":");
    std::vector<std::string> keys;
    const std::string stats = Stats();
    for (std::sregex_iterator it(stats.begin(), stats.end(), kPut), end; it != end; ++it) {
      keys.push_back((*it)[1]);
    }
    return keys;
  }

  // A request to the result bucket signed by libcurl on its own (not by imgorigin's client), so
  // the test reads and writes objects independently of the code under test.
  S3Reply S3Call(const std::string& method, const std::string& key,
                 const std::string& body = "") const {
    CurlPtr curl(curl_easy_init());
    SlistPtr headers(
        curl_slist_append(nullptr, "x-amz-content-sha256: UNSIGNED-PAYLOAD"));
    const std::string url = Endpoint() + "/results/" + key;  // keys here are hex and "/"
    const std::string user = std::string(kAccessKey) + ":" + kSecret;
    S3Reply reply;
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(curl.get(), CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
    curl_easy_setopt(curl.get(), CURLOPT_USERPWD, user.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
    if (method != "GET") curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
    if (method == "PUT") {
      curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(body.size()));
      curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.c_str());
    }
    curl_easy_setopt(
        curl.get(), CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* out) {
          static_cast<std::string*>(out)->append(data, size * n);
          return size * n;
        });
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &reply.body);
    if (curl_easy_perform(curl.get()) == CURLE_OK) {
      curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &reply.status);
    }
    return reply;
  }

  std::unique_ptr<NodeStub> stub_;
};

// A loopback port nothing listens on.
uint16_t ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST_F(S3ResultTierTest, RenderOnOneNodeIsAHitOnAFreshNodeSharingOnlyTheBucket) {
  const std::string path = "/rs:fit:200:0/plain/local:///photo.jpg@png";
  auto a = Start();
  auto miss = Get(*a, path);
  ASSERT_EQ(miss.status, 200) << miss.body;
  EXPECT_EQ(miss.header("X-Cache"), "MISS");
  ASSERT_TRUE(WaitForMetric(*a, "imgorigin_cache_writes_total{tier=\"s3\"}", 1));

  // One object, at <prefix><first two hex>/<key>; the ETag is derived from the same key.
  auto keys = PutKeys();
  ASSERT_EQ(keys.size(), 1u) << Stats();
  std::smatch m;
  ASSERT_TRUE(std::regex_match(keys[0], m, std::regex("imgorigin/([0-9a-f]{2})/([0-9a-f]{64})")))
      << keys[0];
  EXPECT_EQ(m[1].str(), m[2].str().substr(0, 2));
  EXPECT_EQ(miss.header("ETag"), "\"" + m[2].str().substr(0, 32) + "\"");
  EXPECT_EQ(StatCount(Stats(), "rejected"), 0) << Stats();  // every request was signed right

  // Node B: empty memory, an empty disk directory, no shared tier.
  auto b = Start({{"IMGORIGIN_DISK_CACHE_DIR", MakeTempDir()}});
  auto hit = Get(*b, path);
  ASSERT_EQ(hit.status, 200) << hit.body;
  EXPECT_EQ(hit.header("X-Cache"), "HIT-S3");
  EXPECT_EQ(hit.body, miss.body);
  EXPECT_EQ(hit.header("ETag"), miss.header("ETag"));
  EXPECT_EQ(hit.header("Content-Type"), "image/png");
  EXPECT_FALSE(hit.header("Last-Modified").empty());
  EXPECT_EQ(Decode(hit.body).width(), 200);
  // Backfilled into the faster tiers: memory at once, disk write-behind.
  EXPECT_EQ(Get(*b, path).header("X-Cache"), "HIT-MEMORY");
  EXPECT_TRUE(WaitForMetric(*b, "imgorigin_cache_writes_total{tier=\"disk\"}", 1));
  EXPECT_EQ(MetricOf(*b, "imgorigin_cache_hits_total{tier=\"s3\"}"), 1);
  EXPECT_EQ(MetricOf(*b, "imgorigin_cache_misses_total{tier=\"disk\"}"), 1);
  EXPECT_EQ(MetricOf(*b, "imgorigin_renders_total"), 0);
  EXPECT_EQ(MetricOf(*b, "imgorigin_cache_errors_total{tier=\"s3\"}"), 0);
  // The disk backfill went only to disk: the bucket already had the entry.
  EXPECT_EQ(MetricOf(*b, "imgorigin_cache_writes_total{tier=\"s3\"}"), 0);
}

TEST_F(S3ResultTierTest, CorruptedObjectIsRenderedAgainNotServed) {
  const std::string path = "/rs:fit:150:0/plain/local:///photo.jpg";
  {
    auto a = Start();
    ASSERT_EQ(Get(*a, path).status, 200);
    ASSERT_TRUE(WaitForMetric(*a, "imgorigin_cache_writes_total{tier=\"s3\"}", 1));
  }
  auto keys = PutKeys();
  ASSERT_EQ(keys.size(), 1u) << Stats();
  const std::string key = keys[0];
  auto stored = S3Call("GET", key);
  ASSERT_EQ(stored.status, 200) << stored.body;
  ASSERT_GT(stored.body.size(), 100u);
  std::string corrupted = stored.body;
  corrupted[corrupted.size() - 10] ^= 0x5a;
  corrupted[corrupted.size() - 9] ^= 0xa5;
  ASSERT_EQ(S3Call("PUT", key, corrupted).status, 200);
  ASSERT_EQ(S3Call("GET", key).body, corrupted);

  auto b = Start();
  auto r = Get(*b, path);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("X-Cache"), "MISS");
  EXPECT_EQ(Decode(r.body).width(), 150);
  EXPECT_EQ(MetricOf(*b, "imgorigin_renders_total"), 1);
  EXPECT_GE(MetricOf(*b, "imgorigin_cache_errors_total{tier=\"s3\"}"), 1);
  // The garbage was deleted, and the new render stored in its place.
  ASSERT_TRUE(WaitForMetric(*b, "imgorigin_cache_writes_total{tier=\"s3\"}", 1));
  EXPECT_EQ(StatCount(Stats(), "DELETE results/" + key), 1) << Stats();
  auto replaced = S3Call("GET", key);
  ASSERT_EQ(replaced.status, 200);
  EXPECT_NE(replaced.body, corrupted);
  auto c = Start();
  auto hit = Get(*c, path);
  EXPECT_EQ(hit.header("X-Cache"), "HIT-S3");
  EXPECT_EQ(hit.body, r.body);
}

TEST_F(S3ResultTierTest, WrongCredentialsFailNoRequest) {
  auto a = Start({{"AWS_SECRET_ACCESS_KEY", "not-the-secret"}});
  for (int i = 0; i < 6; ++i) {
    auto r = Get(*a, "/rs:fit:" + std::to_string(60 + 10 * i) + ":0/plain/local:///photo.jpg");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("X-Cache"), "MISS");
  }
  EXPECT_TRUE(WaitForMetric(*a, "imgorigin_cache_errors_total{tier=\"s3\"}", 3));
  EXPECT_GE(StatCount(Stats(), "rejected"), 1) << Stats();
  EXPECT_NE(Stats().find("\"accessKeys\":{}"), std::string::npos) << Stats();  // none accepted
  auto ready = a->Get("/ready");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_NE(ready.body.find("\"s3\""), std::string::npos) << ready.body;
}

TEST_F(S3ResultTierTest, BucketDownFailsNoRequestAndOpensTheBreaker) {
  auto a =
      Start({{"IMGORIGIN_S3_RESULT_ENDPOINT", "http://127.0.0.1:" + std::to_string(ClosedPort())}});
  constexpr int kRequests = 10;
  for (int i = 0; i < kRequests; ++i) {
    auto r = Get(*a, "/rs:fit:" + std::to_string(60 + 10 * i) + ":0/plain/local:///photo.jpg");
    ASSERT_EQ(r.status, 200) << r.body;
  }
  EXPECT_GE(MetricOf(*a, "imgorigin_cache_errors_total{tier=\"s3\"}"), 3);
  // After breaker_failures (3) failures in a row, calls are skipped instead of tried.
  EXPECT_GT(MetricOf(*a, "imgorigin_cache_skipped_total{tier=\"s3\"}"), 0);
  EXPECT_EQ(MetricOf(*a, "imgorigin_renders_total"), kRequests);
  EXPECT_EQ(a->Get("/health").status, 200);
}

// POST /v1/purge with the API key; the harness's client sends no body.
long Purge(const OriginProcess& origin, const std::string& source) {
  CurlPtr curl(curl_easy_init());
  SlistPtr headers(
      curl_slist_append(nullptr, "Content-Type: application/json"));
  headers.reset(curl_slist_append(headers.release(),
                                  (std::string("Authorization: Bearer ") + kApiKey).c_str()));
  const std::string url = "http://127.0.0.1:" + std::to_string(origin.port()) + "/v1/purge";
  const std::string body = R"({"source":")" + source + R"("})";
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(
      curl.get(), CURLOPT_WRITEFUNCTION,
      +[](char*, size_t size, size_t n, void*) { return size * n; });
  long status = 0;
  if (curl_easy_perform(curl.get()) == CURLE_OK) {
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  }
  return status;
}

// The generation in the key makes a purged variant's object unreachable; it stays in the bucket
// until the lifecycle rule removes it.
TEST_F(S3ResultTierTest, PurgeMakesTheBucketCopyUnreachableOnEveryNode) {
  RedisProcess redis;
  IMGORIGIN_REQUIRE_SERVICE(redis);
  const std::string path = "/rs:fit:120:0/plain/local:///photo.jpg@webp";
  auto a = Start({{"IMGORIGIN_REDIS_URL", redis.url()}});
  auto before = Get(*a, path);
  ASSERT_EQ(before.status, 200) << before.body;
  ASSERT_TRUE(WaitForMetric(*a, "imgorigin_cache_writes_total{tier=\"s3\"}", 1));
  auto keys = PutKeys();
  ASSERT_EQ(keys.size(), 1u) << Stats();

  // Before the purge a fresh node is answered from the fleet's tiers, not by rendering.
  {
    auto b = Start({{"IMGORIGIN_REDIS_URL", redis.url()}});
    auto hit = Get(*b, path);
    EXPECT_NE(hit.header("X-Cache"), "MISS");
    EXPECT_EQ(hit.header("ETag"), before.header("ETag"));
  }
  ASSERT_EQ(Purge(*a, "local:///photo.jpg"), 200);

  auto c = Start({{"IMGORIGIN_REDIS_URL", redis.url()}});
  auto after = Get(*c, path);
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_EQ(after.header("X-Cache"), "MISS");
  EXPECT_NE(after.header("ETag"), before.header("ETag"));
  EXPECT_EQ(MetricOf(*c, "imgorigin_renders_total"), 1);
  EXPECT_EQ(MetricOf(*c, "imgorigin_cache_hits_total{tier=\"s3\"}"), 0);
  // The old object is still there (unreachable), next to the new one.
  EXPECT_EQ(S3Call("GET", keys[0]).status, 200);
  ASSERT_TRUE(WaitForMetric(*c, "imgorigin_cache_writes_total{tier=\"s3\"}", 1));
  EXPECT_EQ(PutKeys().size(), 2u) << Stats();
}

}  // namespace
}  // namespace imgorigin::testing
