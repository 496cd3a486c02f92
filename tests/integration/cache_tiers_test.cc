// The cache tiers below memory, end to end: real imgorigin processes sharing a real
// redis-server or memcached (started on loopback ports by the harness) and disk directories.
// Asserts on X-Cache, ETags, bodies and /metrics counters; never on timing. Every wait is a
// bounded poll.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"

namespace imgorigin::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kApiKey[] = "test-api-key";
std::string g_root;

class CacheTiersTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    vips_init("cache_tiers_test");
    g_root = MakeTempDir();
    // A gradient, so that every width encodes to a different size.
    auto x = vips::VImage::xyz(640, 480);
    auto gradient = (x[0] * 0.3 + x[1] * 0.2).cast(VIPS_FORMAT_UCHAR);
    gradient.bandjoin({gradient, gradient * 0.5})
        .cast(VIPS_FORMAT_UCHAR)
        .jpegsave((g_root + "/photo.jpg").c_str());
    gradient.pngsave((g_root + "/other.png").c_str());
  }

  static std::map<std::string, std::string> Env(std::map<std::string, std::string> extra) {
    std::map<std::string, std::string> env = {
        {"IMGORIGIN_BIND", "127.0.0.1:0"},
        {"IMGORIGIN_KEY", kKeyHex},
        {"IMGORIGIN_SALT", kSaltHex},
        {"IMGORIGIN_LOCAL_ROOT", g_root},
        {"IMGORIGIN_LOOPS", "2"},
        {"IMGORIGIN_WORKERS", "2"},
        {"IMGORIGIN_GENERATION_POLL_MS", "100"},
        {"IMGORIGIN_API_KEY", kApiKey},
    };
    for (auto& [k, v] : extra) env[k] = v;
    return env;
  }

  static std::unique_ptr<OriginProcess> Start(std::map<std::string, std::string> extra) {
    return std::make_unique<OriginProcess>(Env(std::move(extra)));
  }

  static HttpResponse Get(const OriginProcess& server, const std::string& path) {
    return server.Get(Signed(path));
  }

  static double MetricOf(const OriginProcess& server, const std::string& name) {
    return Metric(server.Get("/metrics").body, name);
  }

  // Write-behind is asynchronous: poll the counter (bounded) until it reaches `at_least`.
  static bool WaitForMetric(const OriginProcess& server, const std::string& name, double at_least) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      if (MetricOf(server, name) >= at_least) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  static HttpResponse Purge(const OriginProcess& server, const std::string& body,
                            const std::string& key = kApiKey) {
    std::vector<std::string> headers = {"Content-Type: application/json"};
    if (!key.empty()) headers.push_back("Authorization: Bearer " + key);
    return HttpRequestWithBody(server.port(), "/v1/purge", headers, "POST", body);
  }

  // The harness's HttpRequest sends no body; a minimal HTTP/1.1 client is enough for purge.
  static HttpResponse HttpRequestWithBody(uint16_t port, const std::string& target,
                                          const std::vector<std::string>& headers,
                                          const std::string& method, const std::string& body);
};

HttpResponse CacheTiersTest::HttpRequestWithBody(uint16_t port, const std::string& target,
                                                 const std::vector<std::string>& headers,
                                                 const std::string& method,
                                                 const std::string& body) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  HttpResponse response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return response;
  }
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& h : headers) request += h + "\r\n";
  request += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  request += body;
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return response;
  }
  std::string raw;
  char buf[4096];
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) raw.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return response;
  std::istringstream head(raw.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  response.status = std::stol(line.substr(line.find(' ') + 1, 3));
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    response.headers[line.substr(0, colon)] = line.substr(line.find_first_not_of(' ', colon + 1));
  }
  response.body = raw.substr(head_end + 4);
  return response;
}

TEST_F(CacheTiersTest, DiskHitAfterRestartBackfillsMemory) {
  const std::string dir = MakeTempDir();
  const std::string path = "/rs:fit:200:0/plain/local:///photo.jpg@png";
  std::string first_body;
  {
    auto a = Start({{"IMGORIGIN_DISK_CACHE_DIR", dir}});
    ASSERT_TRUE(a->started()) << a->output();
    auto r = Get(*a, path);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("X-Cache"), "MISS");
    first_body = r.body;
    ASSERT_TRUE(WaitForMetric(*a, "imgorigin_cache_writes_total{tier=\"disk\"}", 1));
  }
  auto b = Start({{"IMGORIGIN_DISK_CACHE_DIR", dir}});
  ASSERT_TRUE(b->started()) << b->output();
  auto hit = Get(*b, path);
  ASSERT_EQ(hit.status, 200) << hit.body;
  EXPECT_EQ(hit.header("X-Cache"), "HIT-DISK");
  EXPECT_EQ(hit.body, first_body);
  EXPECT_EQ(hit.header("Content-Type"), "image/png");
  EXPECT_FALSE(hit.header("Last-Modified").empty());
  auto again = Get(*b, path);
  EXPECT_EQ(again.header("X-Cache"), "HIT-MEMORY");  // the disk hit was backfilled
  EXPECT_EQ(again.header("ETag"), hit.header("ETag"));
  EXPECT_EQ(MetricOf(*b, "imgorigin_cache_hits_total{tier=\"disk\"}"), 1);
  EXPECT_EQ(MetricOf(*b, "imgorigin_cache_hits_total{tier=\"memory\"}"), 1);
  EXPECT_EQ(MetricOf(*b, "imgorigin_renders_total"), 0);
  // The look-up's latency is filed under the tier that answered.
  EXPECT_EQ(MetricOf(*b, "imgorigin_cache_lookup_duration_seconds_count{tier=\"disk\"}"), 1);
  EXPECT_LE(MetricOf(*b, "imgorigin_cache_lookup_duration_seconds_count{tier=\"miss\"}"), 0);
}

TEST_F(CacheTiersTest, CorruptedDiskEntryIsRenderedAgainNotServed) {
  const std::string dir = MakeTempDir();
  const std::string path = "/rs:fit:160:0/plain/local:///photo.jpg";
  {
    auto a = Start({{"IMGORIGIN_DISK_CACHE_DIR", dir}});
    ASSERT_TRUE(a->started()) << a->output();
    ASSERT_EQ(Get(*a, path).status, 200);
    ASSERT_TRUE(WaitForMetric(*a, "imgorigin_cache_writes_total{tier=\"disk\"}", 1));
  }
  int corrupted = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::fstream f(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(entry.file_size() - 10));
    f.put('\x5a').put('\xa5');
    ++corrupted;
  }
  ASSERT_EQ(corrupted, 1);
  auto b = Start({{"IMGORIGIN_DISK_CACHE_DIR", dir}});
  ASSERT_TRUE(b->started()) << b->output();
  auto r = Get(*b, path);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("X-Cache"), "MISS");
  EXPECT_EQ(Decode(r.body).width(), 160);
  EXPECT_EQ(MetricOf(*b, "imgorigin_renders_total"), 1);
  EXPECT_GE(MetricOf(*b, "imgorigin_cache_errors_total{tier=\"disk\"}"), 1);
}

TEST_F(CacheTiersTest, DiskTierStaysWithinItsSizeBound) {
  const std::string dir = MakeTempDir();
  constexpr int64_t kBound = 48 << 10;
  auto a = Start({{"IMGORIGIN_DISK_CACHE_DIR", dir},
                  {"IMGORIGIN_DISK_CACHE_SIZE", std::to_string(kBound)},
                  {"IMGORIGIN_MEMORY_CACHE_SIZE", "0"}});
  ASSERT_TRUE(a->started()) << a->output();
  constexpr int kVariants = 30;
  for (int i = 0; i < kVariants; ++i) {
    auto r = Get(*a, "/rs:fit:" + std::to_string(60 + 10 * i) + ":0/plain/local:///photo.jpg@png");
    ASSERT_EQ(r.status, 200) << r.body;
  }
  auto stored = [&a] {
    return MetricOf(*a, "imgorigin_cache_writes_total{tier=\"disk\"}") +
           MetricOf(*a, "imgorigin_cache_declined_total{tier=\"disk\"}") +
           MetricOf(*a, "imgorigin_cache_errors_total{tier=\"disk\"}");
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (stored() < kVariants && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(stored(), kVariants);
  int64_t total = 0;
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().parent_path().filename() != "tmp") {
      total += static_cast<int64_t>(entry.file_size());
      ++files;
    }
  }
  EXPECT_LE(total, kBound) << files << " files";
  EXPECT_GT(files, 0);
  EXPECT_LT(files, kVariants);  // some were evicted
}

TEST_F(CacheTiersTest, RedisHitOnAnotherNodeWithPasswordAndDatabase) {
  RedisProcess redis("s3cret");
  IMGORIGIN_REQUIRE_SERVICE(redis);
  auto a = Start({{"IMGORIGIN_REDIS_URL", redis.url(3)}});
  auto b = Start({{"IMGORIGIN_REDIS_URL", redis.url(3)}});
  ASSERT_TRUE(a->started()) << a->output();
  ASSERT_TRUE(b->started()) << b->output();
  const std::string path = "/rs:fill:120:90/plain/local:///photo.jpg@webp";
  auto miss = Get(*a, path);
  ASSERT_EQ(miss.status, 200) << miss.body;
  EXPECT_EQ(miss.header("X-Cache"), "MISS");
  ASSERT_TRUE(WaitForMetric(*a, "imgorigin_cache_writes_total{tier=\"redis\"}", 1));
  auto hit = Get(*b, path);
  ASSERT_EQ(hit.status, 200) << hit.body;
  EXPECT_EQ(hit.header("X-Cache"), "HIT-REDIS");
  EXPECT_EQ(hit.body, miss.body);
  EXPECT_EQ(hit.header("ETag"), miss.header("ETag"));
  EXPECT_EQ(Get(*b, path).header("X-Cache"), "HIT-MEMORY");
  EXPECT_EQ(MetricOf(*b, "imgorigin_cache_hits_total{tier=\"redis\"}"), 1);
  EXPECT_EQ(MetricOf(*b, "imgorigin_renders_total"), 0);
  // The entries went to database 3, behind the password.
  auto keys = redis.Talk("AUTH s3cret\r\nSELECT 3\r\nDBSIZE\r\n", ":");
  EXPECT_NE(keys.find(":"), std::string::npos) << keys;
  EXPECT_EQ(keys.find(":0\r\n"), std::string::npos) << keys;
}

TEST_F(CacheTiersTest, MemcachedWithTwoServersSpreadsAndHits) {
  MemcachedProcess m1, m2;
  IMGORIGIN_REQUIRE_SERVICE(m1);
  IMGORIGIN_REQUIRE_SERVICE(m2);
  const std::string servers = m1.server() + "," + m2.server();
  auto a = Start({{"IMGORIGIN_MEMCACHED_SERVERS", servers}});
  auto b = Start({{"IMGORIGIN_MEMCACHED_SERVERS", servers}});
  ASSERT_TRUE(a->started()) << a->output();
  ASSERT_TRUE(b->started()) << b->output();
  auto path = [](int i) {
    return "/rs:fit:" + std::to_string(40 + 8 * i) + ":0/plain/local:///other.png";
  };
  auto items = [](MemcachedProcess& m) {
    std::string stats = m.Talk("stats\r\n", "END\r\n");
    size_t at = stats.find("STAT curr_items ");
    return at == std::string::npos ? -1 : std::stoi(stats.substr(at + 16));
  };
  // Ketama's split over two loopback ports can be uneven: render variants in batches of 12
  // (at most 48) until both servers hold some, so a lopsided ring cannot fail the run.
  int variants = 0;
  do {
    for (int end = variants + 12; variants < end; ++variants) {
      ASSERT_EQ(Get(*a, path(variants)).status, 200);
    }
    ASSERT_TRUE(WaitForMetric(*a, "imgorigin_cache_writes_total{tier=\"memcached\"}", variants));
  } while (variants < 48 && (items(m1) == 0 || items(m2) == 0));
  const int kVariants = variants;
  for (int i = 0; i < kVariants; ++i) {
    auto r = Get(*b, path(i));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("X-Cache"), "HIT-MEMCACHED") << path(i);
  }
  EXPECT_EQ(MetricOf(*b, "imgorigin_cache_hits_total{tier=\"memcached\"}"), kVariants);
  EXPECT_EQ(MetricOf(*b, "imgorigin_renders_total"), 0);
  // Ketama put entries on both servers.
  EXPECT_GT(items(m1), 0);
  EXPECT_GT(items(m2), 0);
}

TEST_F(CacheTiersTest, PurgeMakesEveryVariantOfASourceMissOnTwoNodes) {
  RedisProcess redis;
  IMGORIGIN_REQUIRE_SERVICE(redis);
  auto a = Start({{"IMGORIGIN_REDIS_URL", redis.url()}});
  auto b = Start({{"IMGORIGIN_REDIS_URL", redis.url()}});
  ASSERT_TRUE(a->started()) << a->output();
  ASSERT_TRUE(b->started()) << b->output();
  const std::string v1 = "/rs:fit:100:0/plain/local:///photo.jpg";
  const std::string v2 = "/rs:fit:140:0/plain/local:///photo.jpg@png";
  const std::string other = "/rs:fit:100:0/plain/local:///other.png";
  std::map<std::string, HttpResponse> before;
  for (const auto& p : {v1, v2, other}) {
    before[p] = Get(*a, p);
    ASSERT_EQ(before[p].status, 200);
  }
  ASSERT_TRUE(WaitForMetric(*a, "imgorigin_cache_writes_total{tier=\"redis\"}", 3));
  for (const auto& p : {v1, v2, other}) EXPECT_EQ(Get(*b, p).header("X-Cache"), "HIT-REDIS");

  EXPECT_EQ(Purge(*a, R"({"source":"local:///photo.jpg"})", "").status, 401);
  EXPECT_EQ(Purge(*a, R"({"source":"local:///photo.jpg"})", "wrong").status, 401);
  EXPECT_EQ(Purge(*a, R"({"src":1})").status, 400);
  auto purged = Purge(*a, R"({"source":"local:///photo.jpg"})");
  ASSERT_EQ(purged.status, 200) << purged.body;
  const std::string tag = before[v1].header("Cache-Tag");
  EXPECT_EQ(purged.header("Cache-Tag"), tag);
  EXPECT_NE(purged.body.find("\"cache_tag\":\"" + tag + "\""), std::string::npos) << purged.body;
  EXPECT_NE(purged.body.find("\"scope\":\"fleet\""), std::string::npos) << purged.body;

  // The purging node: at once.
  auto a1 = Get(*a, v1);
  EXPECT_EQ(a1.header("X-Cache"), "MISS");
  EXPECT_NE(a1.header("ETag"), before[v1].header("ETag"));
  // The other node: within the generation poll interval (bounded wait, no timing assertion).
  HttpResponse b2;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  do {
    b2 = Get(*b, v2);
  } while (b2.header("ETag") == before[v2].header("ETag") &&
           std::chrono::steady_clock::now() < deadline);
  EXPECT_NE(b2.header("ETag"), before[v2].header("ETag"));
  EXPECT_EQ(b2.header("X-Cache"), "MISS");
  EXPECT_EQ(Decode(b2.body).width(), 140);
  // Other sources keep their variants on both nodes.
  for (const auto* server : {a.get(), b.get()}) {
    auto r = Get(*server, other);
    EXPECT_EQ(r.header("X-Cache"), "HIT-MEMORY");
    EXPECT_EQ(r.header("ETag"), before[other].header("ETag"));
  }
}

TEST_F(CacheTiersTest, PurgeOnASingleNodeWithoutSharedTier) {
  auto a = Start({});
  ASSERT_TRUE(a->started()) << a->output();
  const std::string path = "/rs:fit:90:0/plain/local:///photo.jpg";
  auto first = Get(*a, path);
  EXPECT_EQ(Get(*a, path).header("X-Cache"), "HIT-MEMORY");
  auto purged = Purge(*a, R"({"source":"local:///photo.jpg"})");
  ASSERT_EQ(purged.status, 200) << purged.body;
  EXPECT_NE(purged.body.find("\"scope\":\"node\""), std::string::npos) << purged.body;
  auto after = Get(*a, path);
  EXPECT_EQ(after.header("X-Cache"), "MISS");
  EXPECT_NE(after.header("ETag"), first.header("ETag"));

  auto disabled = std::make_unique<OriginProcess>(Env({{"IMGORIGIN_API_KEY", ""}}));
  ASSERT_TRUE(disabled->started()) << disabled->output();
  EXPECT_EQ(Purge(*disabled, R"({"source":"local:///photo.jpg"})").status, 404);
}

TEST_F(CacheTiersTest, TwoNodesSharingRedisRenderAHotVariantOnce) {
  RedisProcess redis;
  IMGORIGIN_REQUIRE_SERVICE(redis);
  auto a = Start({{"IMGORIGIN_REDIS_URL", redis.url()}});
  auto b = Start({{"IMGORIGIN_REDIS_URL", redis.url()}});
  ASSERT_TRUE(a->started()) << a->output();
  ASSERT_TRUE(b->started()) << b->output();
  const std::string target = Signed("/rs:fill:300:200/q:70/plain/local:///photo.jpg@avif");
  constexpr int kThreads = 8, kPerThread = 5;
  std::atomic<int> failures{0}, ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const auto& server = (t + i) % 2 ? *a : *b;
        auto r = server.Get(target);
        (r.status == 200 ? ok : failures).fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  EXPECT_EQ(MetricOf(*a, "imgorigin_renders_total") + MetricOf(*b, "imgorigin_renders_total"), 1);
}

TEST_F(CacheTiersTest, RedisKilledMidRunFailsNoRequest) {
  auto redis = std::make_unique<RedisProcess>();
  IMGORIGIN_REQUIRE_SERVICE(*redis);
  auto a =
      Start({{"IMGORIGIN_REDIS_URL", redis->url()}, {"IMGORIGIN_SHARED_CACHE_TIMEOUT_MS", "100"}});
  ASSERT_TRUE(a->started()) << a->output();
  constexpr int kRequests = 40;
  int failed = 0;
  for (int i = 0; i < kRequests; ++i) {
    if (i == kRequests / 2) redis->Kill();
    // New variants (so the shared tier is consulted) interleaved with repeats.
    auto r = Get(*a, "/rs:fit:" + std::to_string(50 + (i % 3 == 0 ? 0 : i)) + ":0/plain/local:///" +
                         (i % 2 ? "photo.jpg" : "other.png"));
    if (r.status != 200) ++failed;
  }
  EXPECT_EQ(failed, 0);
  EXPECT_GT(MetricOf(*a, "imgorigin_cache_errors_total{tier=\"redis\"}") +
                MetricOf(*a, "imgorigin_cache_skipped_total{tier=\"redis\"}"),
            0);
  EXPECT_EQ(a->Get("/health").status, 200);
}

}  // namespace
}  // namespace imgorigin::testing
