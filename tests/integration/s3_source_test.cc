// s3:// sources end to end: the real binary against s3rver behind a SigV4-verifying proxy
// (tests/integration/s3_stub.mjs), on loopback ports only. Covers keys with special characters,
// versioned reads, 404, wrong credentials, a stalling server, retries, the source cache, a large
// object streamed through a file, and every provider of the AWS credentials chain.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "signing/base64url.h"
#include "tests/integration/harness.h"
#include "tests/integration/node_stub.h"

namespace imgorigin::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kAccessKey[] = "AKIDIMGORIGINTEST";
constexpr char kSecret[] = "imgorigin-test-secret";
constexpr char kContainerToken[] = "container-auth-token";

vips::VImage Flat(int w, int h, double r, double g, double b) {
  return (vips::VImage::black(w, h) + std::vector<double>{r, g, b})
      .cast(VIPS_FORMAT_UCHAR)
      .copy(vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

// Left half red, right half blue: a resize that mixed up sources or sides shows.
vips::VImage Halves() {
  return Flat(200, 150, 255, 0, 0).join(Flat(200, 150, 0, 0, 255), VIPS_DIRECTION_HORIZONTAL);
}

void Save(const vips::VImage& image, const fs::path& path) {
  fs::create_directories(path.parent_path());
  image.jpegsave(path.c_str(), vips::VImage::option()->set("Q", 95));
}

// Keys as stored in the bucket: the characters that break naive S3 clients.
const std::vector<std::string> kSpecialKeys = {
    "plain.jpg", "dir/a b.jpg", "dir/a+b.jpg", "dir/100%.jpg", "dir/a#b.jpg",
    "dir/ünï cödé 画像.jpg", "dir/what?.jpg", "dir/sub/deep/x=1&y=2.jpg",
};

std::string g_fixtures;  // <fixtures>/<bucket>/<key>

void MakeFixtures() {
  if (!g_fixtures.empty()) return;
  vips_init("s3_source_test");
  g_fixtures = MakeTempDir();
  const fs::path bucket = fs::path(g_fixtures) / "media";
  for (const auto& key : kSpecialKeys) Save(Halves(), bucket / key);
  Save(Flat(80, 60, 0, 255, 0), bucket / "versioned.jpg");  // latest: green
  Save(Flat(80, 60, 255, 0, 0), bucket / ".versions/v1/versioned.jpg");
  Save(Flat(80, 60, 0, 0, 255), bucket / ".versions/v2/versioned.jpg");
  for (const char* key : {"flaky/a.jpg", "throttle/a.jpg", "stall/a.jpg", "cache/a.jpg",
                          "cache/b.jpg", "creds/1.jpg", "creds/2.jpg", "creds/3.jpg"}) {
    Save(Halves(), bucket / key);
  }
  Save(Halves(), fs::path(g_fixtures) / "other-bucket" / "plain.jpg");
  // Key "dir/../x.jpg" (the stub's spelling of a ".." key segment on disk), and a green "x.jpg",
  // where a resolved path would land.
  Save(Halves(), bucket / "dir" / "%2E%2E" / "x.jpg");
  Save(Halves(), bucket / "dir" / "photo..jpg");
  Save(Flat(400, 300, 0, 255, 0), bucket / "x.jpg");
}

class S3SourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeFixtures();
    stub_ = std::make_unique<NodeStub>(
        "s3_stub.mjs", std::vector<std::string>{"--dir", MakeTempDir(), "--seed", g_fixtures,
                                                "--key", std::string(kAccessKey) + ":" + kSecret,
                                                "--container-token", kContainerToken,
                                                "--cred-ttl", cred_ttl_});
    IMGORIGIN_REQUIRE_STUB(*stub_);
  }

  // Origin settings for the stub: static env credentials unless a test replaces them, and no
  // way to reach a real profile file or the real metadata service.
  std::map<std::string, std::string> Env(std::map<std::string, std::string> extra = {}) const {
    std::map<std::string, std::string> env = {
        {"IMGORIGIN_BIND", "127.0.0.1:0"},
        {"IMGORIGIN_KEY", kKeyHex},
        {"IMGORIGIN_SALT", kSaltHex},
        {"IMGORIGIN_LOOPS", "2"},
        {"IMGORIGIN_S3_ENABLED", "true"},
        {"IMGORIGIN_S3_ENDPOINT", "http://127.0.0.1:" + std::to_string(stub_->port("s3"))},
        {"IMGORIGIN_S3_PATH_STYLE", "true"},
        {"IMGORIGIN_SOURCE_RETRY_BACKOFF_MS", "20"},
        {"AWS_REGION", "us-east-1"},
        {"AWS_ACCESS_KEY_ID", kAccessKey},
        {"AWS_SECRET_ACCESS_KEY", kSecret},
        {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"},
        {"AWS_EC2_METADATA_DISABLED", "true"},
    };
    for (auto& [k, v] : extra) {
      if (v.empty()) {
        env.erase(k);
      } else {
        env[k] = v;
      }
    }
    return env;
  }

  std::unique_ptr<OriginProcess> Start(std::map<std::string, std::string> extra = {}) {
    auto origin = std::make_unique<OriginProcess>(Env(std::move(extra)));
    EXPECT_TRUE(origin->started()) << origin->output();
    return origin;
  }

  static HttpResponse Get(const OriginProcess& origin, const std::string& options,
                          const std::string& source) {
    return origin.Get(Signed(options + "/plain/" + EscapePlain(source)));
  }

  std::string Stats() const { return StubStats(stub_->port("s3")); }
  std::string CredStats() const { return StubStats(stub_->port("creds")); }

  std::string cred_ttl_ = "3600";
  std::unique_ptr<NodeStub> stub_;
};

void ExpectHalves(const HttpResponse& r, int width) {
  ASSERT_EQ(r.status, 200) << r.body;
  auto image = Decode(r.body);
  ASSERT_EQ(image.width(), width);
  EXPECT_LT(MeanAbsDiff(image, Halves().resize(static_cast<double>(width) / 400)), 4.0);
}

TEST_F(S3SourceTest, KeysWithSpecialCharactersAreSignedAndFound) {
  auto origin = Start();
  for (const auto& key : kSpecialKeys) {
    SCOPED_TRACE(key);
    ExpectHalves(Get(*origin, "/rs:fit:100:0", "s3://media/" + key), 100);
    EXPECT_EQ(StatCount(Stats(), "media/" + key), 1);
  }
  EXPECT_EQ(StatCount(Stats(), "rejected"), 0) << Stats();
}

TEST_F(S3SourceTest, Base64SourceAndPlainSourceAgree) {
  auto origin = Start();
  const std::string key = "dir/ünï cödé 画像.jpg";
  auto plain = Get(*origin, "/rs:fit:50:0", "s3://media/" + key);
  auto b64 = origin->Get(Signed("/rs:fit:50:0/" + signing::Base64UrlEncode("s3://media/" + key)));
  ASSERT_EQ(plain.status, 200) << plain.body;
  ASSERT_EQ(b64.status, 200) << b64.body;
  EXPECT_EQ(plain.body, b64.body);
}

// "Done means": s3:// URLs behave exactly like local:/// ones.
TEST_F(S3SourceTest, SameBytesAsTheLocalSource) {
  auto origin = Start({{"IMGORIGIN_LOCAL_ROOT", g_fixtures + "/media"}});
  for (const std::string options : {"/rs:fill:64:64/g:ea", "/w:120/q:70", "/rs:fit:90:90/f:png"}) {
    auto s3 = Get(*origin, options, "s3://media/dir/a b.jpg");
    auto local = Get(*origin, options, "local:///dir/a b.jpg");
    ASSERT_EQ(s3.status, 200) << s3.body;
    ASSERT_EQ(local.status, 200) << local.body;
    EXPECT_EQ(s3.body, local.body) << options;
    EXPECT_EQ(s3.header("Content-Type"), local.header("Content-Type"));
  }
}

TEST_F(S3SourceTest, VersionIdSelectsTheVersionAndIsSigned) {
  auto origin = Start();
  auto colour = [&](const std::string& source) {
    auto r = Get(*origin, "/w:20", source);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? Decode(r.body).getpoint(10, 10) : std::vector<double>{-1, -1, -1};
  };
  auto latest = colour("s3://media/versioned.jpg");
  auto v1 = colour("s3://media/versioned.jpg?versionId=v1");
  auto v2 = colour("s3://media/versioned.jpg?versionId=v2");
  EXPECT_GT(latest[1], 200);  // green
  EXPECT_GT(v1[0], 200);      // red
  EXPECT_GT(v2[2], 200);      // blue
  // Each version was a separate, correctly signed request carrying versionId.
  EXPECT_EQ(StatCount(Stats(), "media/versioned.jpg?versionId=v1"), 1) << Stats();
  EXPECT_EQ(StatCount(Stats(), "media/versioned.jpg?versionId=v2"), 1) << Stats();
  EXPECT_EQ(StatCount(Stats(), "rejected"), 0);
  auto missing = Get(*origin, "/w:20", "s3://media/versioned.jpg?versionId=v9");
  EXPECT_EQ(missing.status, 404) << missing.body;
}

TEST_F(S3SourceTest, MissingKeyIs404WithShortCaching) {
  auto origin = Start();
  auto r = Get(*origin, "/w:20", "s3://media/no such key.jpg");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(r.header("Cache-Control"), "public, max-age=60");
}

TEST_F(S3SourceTest, WrongSecretIs502NamingTheRefusal) {
  auto origin = Start({{"AWS_SECRET_ACCESS_KEY", "not-the-secret"}});
  auto r = Get(*origin, "/w:20", "s3://media/plain.jpg");
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_NE(r.body.find("403 SignatureDoesNotMatch"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("credentials"), std::string::npos) << r.body;
  EXPECT_EQ(r.header("Cache-Control"), "no-store");
  EXPECT_GE(StatCount(Stats(), "rejected"), 1);
}

TEST_F(S3SourceTest, BucketAllowlist) {
  auto origin = Start({{"IMGORIGIN_S3_ALLOWED_BUCKETS", "media"}});
  EXPECT_EQ(Get(*origin, "/w:20", "s3://media/plain.jpg").status, 200);
  auto refused = Get(*origin, "/w:20", "s3://other-bucket/plain.jpg");
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(StatCount(Stats(), "other-bucket/plain.jpg"), 0);
}

// "s3://media/../other-bucket/k" passed the allowlist and, its path resolved by libcurl, was sent
// (and signed) for bucket "other-bucket". Now it is key "../other-bucket/k" of bucket "media".
TEST_F(S3SourceTest, DotSegmentsCannotLeaveTheAllowedBucket) {
  auto origin = Start({{"IMGORIGIN_S3_ALLOWED_BUCKETS", "media"}});
  auto r = Get(*origin, "/w:20", "s3://media/../other-bucket/plain.jpg");
  EXPECT_EQ(r.status, 404) << r.body;  // media has no such key
  EXPECT_EQ(StatCount(Stats(), "media/../other-bucket/plain.jpg"), 1) << Stats();
  EXPECT_EQ(StatCount(Stats(), "other-bucket/plain.jpg"), 0) << Stats();
  EXPECT_EQ(StatCount(Stats(), "rejected"), 0) << Stats();
}

// Keys holding "." and ".." are legal S3 keys: sent and signed as they are, they name that object,
// never the one a resolved path would name.
TEST_F(S3SourceTest, KeysWithDotSegmentsAreKeys) {
  auto origin = Start({{"IMGORIGIN_S3_ALLOWED_BUCKETS", "media"}});
  for (const std::string key : {"dir/../x.jpg", "dir/photo..jpg"}) {
    SCOPED_TRACE(key);
    ExpectHalves(Get(*origin, "/rs:fit:100:0", "s3://media/" + key), 100);
    EXPECT_EQ(StatCount(Stats(), "media/" + key), 1) << Stats();
  }
  EXPECT_EQ(StatCount(Stats(), "media/x.jpg"), 0) << Stats();
  EXPECT_EQ(StatCount(Stats(), "rejected"), 0) << Stats();
}

TEST_F(S3SourceTest, StallingServerTimesOutWith504) {
  auto origin = Start({{"IMGORIGIN_SOURCE_TIMEOUT_MS", "1500"}});
  // The harness client gives up after 60 s: a 504 means the source deadline held.
  auto r = Get(*origin, "/w:20", "s3://media/stall/a.jpg");
  EXPECT_EQ(r.status, 504) << r.body;
  // The origin stays responsive for other sources meanwhile.
  EXPECT_EQ(Get(*origin, "/w:20", "s3://media/plain.jpg").status, 200);
}

TEST_F(S3SourceTest, SlowDownAndThrottlingAreRetried) {
  auto origin = Start();
  EXPECT_EQ(Get(*origin, "/w:20", "s3://media/flaky/a.jpg").status, 200);
  EXPECT_EQ(StatCount(Stats(), "media/flaky/a.jpg"), 3);  // 503, 503, 200
  EXPECT_EQ(Get(*origin, "/w:20", "s3://media/throttle/a.jpg").status, 200);
  EXPECT_EQ(StatCount(Stats(), "media/throttle/a.jpg"), 2);  // 429, 200
}

TEST_F(S3SourceTest, RetriesAreBounded) {
  auto origin = Start({{"IMGORIGIN_SOURCE_RETRIES", "1"}});
  auto r = Get(*origin, "/w:20", "s3://media/flaky/a.jpg");
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_NE(r.body.find("503 SlowDown"), std::string::npos) << r.body;
  EXPECT_EQ(StatCount(Stats(), "media/flaky/a.jpg"), 2);
}

TEST_F(S3SourceTest, VariantsOfOneOriginalFetchItOnce) {
  auto origin = Start();
  for (int w : {10, 20, 30}) EXPECT_EQ(Get(*origin, "/w:" + std::to_string(w), "s3://media/cache/a.jpg").status, 200);
  EXPECT_EQ(StatCount(Stats(), "media/cache/a.jpg"), 1) << Stats();

  // Eight different variants of a cold original at once: one fetch between them.
  std::vector<std::thread> threads;
  std::vector<long> statuses(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      statuses[i] = Get(*origin, "/w:" + std::to_string(40 + i), "s3://media/cache/b.jpg").status;
    });
  }
  for (auto& t : threads) t.join();
  for (long s : statuses) EXPECT_EQ(s, 200);
  EXPECT_EQ(StatCount(Stats(), "media/cache/b.jpg"), 1) << Stats();
  EXPECT_EQ(Metric(origin->Get("/metrics").body, "imgorigin_source_fetches_total"), 2);
}

TEST_F(S3SourceTest, DiskSourceCacheSurvivesARestart) {
  const std::string dir = MakeTempDir();
  {
    auto origin = Start({{"IMGORIGIN_SOURCE_CACHE_DIR", dir}});
    EXPECT_EQ(Get(*origin, "/w:10", "s3://media/cache/a.jpg").status, 200);
  }
  auto origin = Start({{"IMGORIGIN_SOURCE_CACHE_DIR", dir}});
  EXPECT_EQ(Get(*origin, "/w:11", "s3://media/cache/a.jpg").status, 200);
  EXPECT_EQ(StatCount(Stats(), "media/cache/a.jpg"), 1) << Stats();
}

// --- credentials chain ---

TEST_F(S3SourceTest, ProfileFromSharedCredentialsFile) {
  const std::string file = MakeTempDir() + "/credentials";
  std::ofstream(file) << "[default]\naws_access_key_id = WRONGKEY\naws_secret_access_key = x\n\n"
                      << "[imgorigin]\naws_access_key_id = " << kAccessKey
                      << "\naws_secret_access_key = " << kSecret << "\n";
  auto origin = Start({{"AWS_ACCESS_KEY_ID", ""},
                       {"AWS_SECRET_ACCESS_KEY", ""},
                       {"AWS_SHARED_CREDENTIALS_FILE", file},
                       {"AWS_PROFILE", "imgorigin"}});
  EXPECT_EQ(Get(*origin, "/w:20", "s3://media/creds/1.jpg").status, 200);
}

TEST_F(S3SourceTest, EnvironmentWinsOverContainerEndpoint) {
  const std::string uri = "http://127.0.0.1:" + std::to_string(stub_->port("creds")) + "/container";
  auto origin = Start({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", uri},
                       {"AWS_CONTAINER_AUTHORIZATION_TOKEN", kContainerToken}});
  EXPECT_EQ(Get(*origin, "/w:20", "s3://media/creds/1.jpg").status, 200);
  EXPECT_EQ(StatCount(CredStats(), "container"), 0);
}

TEST_F(S3SourceTest, ContainerEndpointWithTokenFile) {
  const std::string token_file = MakeTempDir() + "/token";
  std::ofstream(token_file) << kContainerToken << "\n";
  const std::string uri = "http://127.0.0.1:" + std::to_string(stub_->port("creds")) + "/container";
  auto origin = Start({{"AWS_ACCESS_KEY_ID", ""},
                       {"AWS_SECRET_ACCESS_KEY", ""},
                       {"AWS_CONTAINER_CREDENTIALS_FULL_URI", uri},
                       {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file}});
  EXPECT_EQ(Get(*origin, "/w:20", "s3://media/creds/1.jpg").status, 200);
  EXPECT_EQ(Get(*origin, "/w:20", "s3://media/creds/2.jpg").status, 200);
  // Long-lived temporary credentials are fetched once and reused.
  EXPECT_EQ(StatCount(CredStats(), "container"), 1) << CredStats();
  EXPECT_EQ(StatCount(Stats(), "ASIACONTAINER1"), 2) << Stats();
}

TEST_F(S3SourceTest, ContainerEndpointWithWrongTokenIs502) {
  const std::string uri = "http://127.0.0.1:" + std::to_string(stub_->port("creds")) + "/container";
  auto origin = Start({{"AWS_ACCESS_KEY_ID", ""},
                       {"AWS_SECRET_ACCESS_KEY", ""},
                       {"AWS_CONTAINER_CREDENTIALS_FULL_URI", uri},
                       {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong"}});
  auto r = Get(*origin, "/w:20", "s3://media/creds/1.jpg");
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_EQ(StatCount(Stats(), "media/creds/1.jpg"), 0);
}

TEST_F(S3SourceTest, InstanceMetadataV2) {
  auto origin = Start({{"AWS_ACCESS_KEY_ID", ""},
                       {"AWS_SECRET_ACCESS_KEY", ""},
                       {"AWS_EC2_METADATA_DISABLED", ""},
                       {"AWS_EC2_METADATA_SERVICE_ENDPOINT",
                        "http://127.0.0.1:" + std::to_string(stub_->port("creds"))}});
  EXPECT_EQ(Get(*origin, "/w:20", "s3://media/creds/1.jpg").status, 200);
  auto stats = CredStats();
  EXPECT_EQ(StatCount(stats, "imdsToken"), 1) << stats;  // the IMDSv2 session token PUT
  EXPECT_EQ(StatCount(stats, "imdsCreds"), 1) << stats;
  EXPECT_EQ(StatCount(Stats(), "ASIAIMDS1"), 1) << Stats();
}

class S3ExpiringCredentialsTest : public S3SourceTest {
 protected:
  // Credentials that expire within the 5-minute refresh margin: every use must refresh them.
  void SetUp() override {
    cred_ttl_ = "120";
    S3SourceTest::SetUp();
  }
};

TEST_F(S3ExpiringCredentialsTest, TemporaryCredentialsAreRefreshedBeforeExpiry) {
  const std::string uri = "http://127.0.0.1:" + std::to_string(stub_->port("creds")) + "/container";
  auto origin = Start({{"AWS_ACCESS_KEY_ID", ""},
                       {"AWS_SECRET_ACCESS_KEY", ""},
                       {"AWS_CONTAINER_CREDENTIALS_FULL_URI", uri},
                       {"AWS_CONTAINER_AUTHORIZATION_TOKEN", kContainerToken}});
  EXPECT_EQ(Get(*origin, "/w:20", "s3://media/creds/1.jpg").status, 200);
  EXPECT_EQ(Get(*origin, "/w:20", "s3://media/creds/2.jpg").status, 200);
  EXPECT_EQ(Get(*origin, "/w:20", "s3://media/creds/3.jpg").status, 200);
  EXPECT_EQ(StatCount(CredStats(), "container"), 3) << CredStats();
  auto stats = Stats();
  EXPECT_EQ(StatCount(stats, "ASIACONTAINER1"), 1) << stats;
  EXPECT_EQ(StatCount(stats, "ASIACONTAINER2"), 1) << stats;
  EXPECT_EQ(StatCount(stats, "ASIACONTAINER3"), 1) << stats;
}

// --- large originals ---

class S3LargeObjectTest : public ::testing::Test {};

// A 120 MB object (a real JPEG followed by padding, which decoders ignore) is streamed to a file
// and decoded from it (what that saves in memory is measured in bench/, not here).
TEST_F(S3LargeObjectTest, StreamsToFileWithBoundedMemory) {
  vips_init("s3_source_test");
  // Hundreds of MB of fixtures and copies: removed after the servers below have stopped.
  struct Cleanup {
    std::vector<std::string> dirs;
    ~Cleanup() {
      std::error_code ec;
      for (const auto& d : dirs) fs::remove_all(d, ec);
    }
  } cleanup{{MakeTempDir(), MakeTempDir(), MakeTempDir(), MakeTempDir()}};
  const fs::path seed = cleanup.dirs[0];
  const fs::path big = seed / "media" / "big.jpg";
  Save(Halves().resize(10), big);  // 4000×3000
  Save(Halves().resize(10), seed / "media" / "small.jpg");
  {
    std::ofstream out(big, std::ios::binary | std::ios::app);
    std::string pad(1 << 20, '\0');
    for (int i = 0; i < 120; ++i) out.write(pad.data(), static_cast<std::streamsize>(pad.size()));
  }
  const auto size = fs::file_size(big);
  NodeStub stub("s3_stub.mjs", {"--dir", cleanup.dirs[1], "--seed", seed.string(), "--key",
                                std::string(kAccessKey) + ":" + kSecret});
  IMGORIGIN_REQUIRE_STUB(stub);
  std::map<std::string, std::string> env = {
      {"IMGORIGIN_BIND", "127.0.0.1:0"},
      {"IMGORIGIN_KEY", kKeyHex},
      {"IMGORIGIN_SALT", kSaltHex},
      {"IMGORIGIN_LOOPS", "2"},
      {"IMGORIGIN_S3_ENABLED", "true"},
      {"IMGORIGIN_S3_ENDPOINT", "http://127.0.0.1:" + std::to_string(stub.port("s3"))},
      {"IMGORIGIN_S3_PATH_STYLE", "true"},
      {"AWS_ACCESS_KEY_ID", kAccessKey},
      {"AWS_SECRET_ACCESS_KEY", kSecret},
      {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"},
      {"AWS_EC2_METADATA_DISABLED", "true"},
      {"IMGORIGIN_MAX_SRC_BYTES", "512MiB"},
      {"IMGORIGIN_SOURCE_CACHE_DIR", cleanup.dirs[2]},
  };
  OriginProcess origin(env);
  ASSERT_TRUE(origin.started()) << origin.output();
  // What the server needs anyway (libvips, threads, a small render), to compare against.
  ExpectHalves(origin.Get(Signed("/rs:fit:400:0/plain/s3://media/small.jpg")), 400);
  EXPECT_EQ(Metric(origin.Get("/metrics").body, "imgorigin_source_spilled_total"), 0);
  auto r = origin.Get(Signed("/rs:fit:400:0/plain/s3://media/big.jpg"));
  ExpectHalves(r, 400);
  // A second variant comes from the disk source cache (large originals skip the memory tier).
  ExpectHalves(origin.Get(Signed("/rs:fit:200:0/plain/s3://media/big.jpg")), 200);
  EXPECT_EQ(StatCount(StubStats(stub.port("s3")), "media/big.jpg"), 1);
  EXPECT_EQ(Metric(origin.Get("/metrics").body, "imgorigin_source_spilled_total"), 1);
  // On disk in the source cache as the whole object, linked from the spilled file, not re-read.
  uint64_t cached = 0;
  for (const auto& e : fs::recursive_directory_iterator(cleanup.dirs[2])) {
    if (e.is_regular_file() && e.path().parent_path().filename() != "tmp") {
      cached = std::max<uint64_t>(cached, e.file_size());
    }
  }
  EXPECT_EQ(cached, size);

  // Over limits.max_src_bytes: refused from Content-Length, before the body is read.
  env["IMGORIGIN_MAX_SRC_BYTES"] = "50MiB";
  env["IMGORIGIN_SOURCE_CACHE_DIR"] = cleanup.dirs[3];
  OriginProcess limited(env);
  ASSERT_TRUE(limited.started()) << limited.output();
  auto too_big = limited.Get(Signed("/rs:fit:400:0/plain/s3://media/big.jpg"));
  EXPECT_EQ(too_big.status, 413) << too_big.body;
}

}  // namespace
}  // namespace imgorigin::testing
