// Eager presets through the job queue, end to end with the real binary (docs/ingest.md): an
// upload followed by its three variants, a ready record and a signed webhook (the receiver
// checks the signature with Node's crypto); a poison image dead-lettered after max_attempts with
// its notifications, then redriven once fixed; a worker killed with SIGKILL mid-job whose job
// another worker finishes; an S3 event for a key with spaces and Unicode processed once though
// delivered twice, and its removal; Redis stopped mid-run with nothing lost.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "ingest/sqlite_job_queue.h"
#include "tests/integration/fauxqs_harness.h"
#include "tests/integration/harness.h"
#include "tests/integration/ingest_fixtures.h"
#include "tests/integration/node_stub.h"

namespace imgorigin::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace ingest_fixtures;
using namespace std::chrono_literals;

constexpr char kSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

// A photo-like JPEG (noise over a gradient), `w`×`h`.
std::string Photo(int w, int h) {
  vips_init("ingest_jobs_test");
  const auto image = (vips::VImage::xyz(w, h)[0] * (255.0 / w))
                         .bandjoin({vips::VImage::xyz(w, h)[1] * (255.0 / h),
                                    vips::VImage::gaussnoise(w, h) * 40 + 128})
                         .cast(VIPS_FORMAT_UCHAR)
                         .copy(vips::VImage::option()->set("interpretation",
                                                           VIPS_INTERPRETATION_sRGB));
  void* data = nullptr;
  size_t size = 0;
  image.write_to_buffer(".jpg", &data, &size, vips::VImage::option()->set("Q", 85));
  std::string out(static_cast<char*>(data), size);
  g_free(data);
  return out;
}

class JobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    IMGORIGIN_REQUIRE_STUB(webhooks_);
    root_ = MakeTempDir();
    data_ = MakeTempDir();
    variants_ = MakeTempDir();
  }

  std::map<std::string, std::string> Env(std::map<std::string, std::string> extra = {}) const {
    std::map<std::string, std::string> env = {
        {"IMGORIGIN_BIND", "127.0.0.1:0"},
        {"IMGORIGIN_KEY", kKeyHex},
        {"IMGORIGIN_SALT", kSaltHex},
        {"IMGORIGIN_LOOPS", "1"},
        {"IMGORIGIN_API_KEY", kApiKey},
        {"IMGORIGIN_LOCAL_ROOT", root_},
        {"IMGORIGIN_INGEST_ENABLED", "true"},
        {"IMGORIGIN_DATA_DIR", data_},
        {"IMGORIGIN_MAX_UPLOAD_BYTES", std::to_string(8 << 20)},
        {"IMGORIGIN_PRESETS", "small=rs:fit:160:160,medium=rs:fit:480:480,large=rs:fit:1200:1200"},
        {"IMGORIGIN_EAGER", "small,medium,large"},
        {"IMGORIGIN_VARIANTS_STORE", variants_},
        {"IMGORIGIN_WEBHOOK_URLS",
         "http://127.0.0.1:" + std::to_string(webhooks_.port("http")) + "/hooks"},
        {"IMGORIGIN_WEBHOOK_SECRETS", kSecret},
        {"IMGORIGIN_JOBS_MAX_ATTEMPTS", "2"},
        {"IMGORIGIN_JOBS_BACKOFF_BASE_MS", "50"},
        {"IMGORIGIN_JOBS_BACKOFF_MAX_MS", "100"},
        {"IMGORIGIN_JOBS_POLL_WAIT_MS", "200"},
    };
    for (auto& [k, v] : extra) env[k] = v;
    return env;
  }

  std::unique_ptr<OriginProcess> Start(std::map<std::string, std::string> extra = {},
                                       const std::vector<std::string>& args = {"serve"}) {
    auto origin = std::make_unique<OriginProcess>(Env(std::move(extra)), args);
    EXPECT_TRUE(origin->started()) << origin->output();
    return origin;
  }

  // The record once its status is `status` (at most 30 s: ASan builds render slowly).
  json AwaitStatus(uint16_t port, const std::string& id, const std::string& status) {
    json record;
    for (int i = 0; i < 600; ++i) {
      auto r = Send(port, "GET", "/v1/images/" + id, {});
      if (r.status == 200) {
        record = json::parse(r.body);
        if (record["status"] == status) return record;
      }
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "image " << id << " never became " << status << ": " << record.dump();
    return record;
  }

  // The webhook deliveries of event `type` (waiting up to 10 s for at least `at_least`).
  std::vector<json> Webhooks(const std::string& type, size_t at_least = 1) {
    std::vector<json> found;
    for (int i = 0; i < 200; ++i) {
      found.clear();
      const json stats = json::parse(StubStats(webhooks_.port("http")));
      for (const json& r : stats["requests"]) {
        if (json::parse(r["body"].get<std::string>())["type"] == type) found.push_back(r);
      }
      if (found.size() >= at_least) break;
      std::this_thread::sleep_for(50ms);
    }
    return found;
  }

  fs::path Original(const std::string& id) const { return fs::path(root_) / "uploads" / id; }

  NodeStub webhooks_{"webhook_stub.mjs", {"--secret", kSecret}};
  std::string root_, data_, variants_;
};

TEST_F(JobsTest, AnUploadIsFollowedByItsThreeVariantsAReadyRecordAndASignedWebhook) {
  auto origin = Start();
  json created = Created(Upload(origin->port(), "image/jpeg", Photo(1600, 1200)));
  const std::string id = created["id"];
  EXPECT_EQ(created["status"], "pending");  // checked, its presets being made
  EXPECT_EQ(created["format"], "jpg");

  json record = AwaitStatus(origin->port(), id, "ready");
  ASSERT_EQ(record["variants"].size(), 3u) << record.dump();
  std::map<std::string, int> longest = {{"small", 160}, {"medium", 480}, {"large", 1200}};
  for (const json& variant : record["variants"]) {
    const std::string preset = variant["preset"];
    const fs::path file = fs::path(variants_) / id / (preset + "." + variant["format"].get<std::string>());
    ASSERT_TRUE(fs::exists(file)) << file;
    EXPECT_EQ(static_cast<int64_t>(fs::file_size(file)), variant["bytes"].get<int64_t>());
    EXPECT_EQ(std::max(variant["width"].get<int>(), variant["height"].get<int>()), longest[preset]);
    std::ifstream in(file, std::ios::binary);
    const auto image = Decode(std::string(std::istreambuf_iterator<char>(in), {}));
    EXPECT_EQ(image.width(), variant["width"].get<int>());
  }
  // The signed preset URL the record lists is served from the cache the job filled.
  auto small = origin->Get(record["urls"]["small"].get<std::string>());
  EXPECT_EQ(small.status, 200);
  EXPECT_TRUE(small.header("X-Cache").starts_with("HIT")) << small.header("X-Cache");

  auto ready = Webhooks("image.ready");
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0]["matched"], json::array({0})) << ready[0].dump();  // Node's own HMAC
  const json event = json::parse(ready[0]["body"].get<std::string>());
  EXPECT_EQ(event["data"]["id"], id);
  EXPECT_EQ(event["data"]["variants"].size(), 3u);
}

// The original is spoilt after its upload was checked (as a disk fault would), with the workers
// in a process of their own that starts only then: both attempts fail, the job is buried, the
// record is failed and both events go out; once the original is back, a redrive makes it ready.
TEST_F(JobsTest, APoisonImageIsDeadLetteredNotifiedAndRedrivenOnceFixed) {
  auto origin = Start({{"IMGORIGIN_JOBS_IN_SERVE", "false"}});
  const std::string photo = Photo(800, 600);
  const std::string id = Created(Upload(origin->port(), "image/jpeg", photo))["id"];
  std::ofstream(Original(id), std::ios::trunc) << "not an image any more";
  auto worker = Start({{"IMGORIGIN_JOBS_IN_SERVE", "false"}}, {"worker"});

  json failed = AwaitStatus(origin->port(), id, "failed");
  EXPECT_FALSE(failed["last_error"].get<std::string>().empty());
  auto dlq = Send(origin->port(), "GET", "/v1/jobs/dlq", {});
  ASSERT_EQ(dlq.status, 200) << dlq.body;
  const json letters = json::parse(dlq.body)["dead_letters"];
  ASSERT_EQ(letters.size(), 1u) << dlq.body;
  EXPECT_EQ(letters[0]["attempts"], 2);
  EXPECT_EQ(letters[0]["kind"], "eager");
  EXPECT_EQ(Webhooks("image.failed").size(), 1u);
  auto dead = Webhooks("job.dead_lettered");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0]["matched"], json::array({0}));

  std::ofstream(Original(id), std::ios::trunc | std::ios::binary) << photo;
  auto redriven = Send(origin->port(), "POST", "/v1/jobs/dlq/redrive",
                       {"Content-Type: application/json"}, R"({"queue": "jobs"})");
  ASSERT_EQ(redriven.status, 200) << redriven.body;
  EXPECT_EQ(json::parse(redriven.body)["redriven"], 1);
  json ready = AwaitStatus(origin->port(), id, "ready");
  EXPECT_EQ(ready["variants"].size(), 3u);
  EXPECT_TRUE(json::parse(Send(origin->port(), "GET", "/v1/jobs/dlq", {}).body)["dead_letters"]
                  .empty());
}

// Worker A takes the job and is killed with SIGKILL while it renders (AVIF variants make that
// take seconds); the job's visibility runs out and worker B finishes it.
TEST_F(JobsTest, AWorkerKilledMidJobHasItsJobFinishedByAnother) {
  const std::map<std::string, std::string> slow = {{"IMGORIGIN_JOBS_IN_SERVE", "false"},
                                                   {"IMGORIGIN_JOBS_VISIBILITY_S", "2"},
                                                   {"IMGORIGIN_EAGER_FORMATS", "avif"}};
  auto origin = Start(slow);
  const std::string id = Created(Upload(origin->port(), "image/jpeg", Photo(2400, 1800)))["id"];
  auto queue = ingest::SqliteJobQueue::Open(
      {.path = (fs::path(data_) / "records.sqlite3").string(), .queue = "jobs"});
  ASSERT_TRUE(queue) << queue.error().message;
  auto a = Start(slow, {"worker"});
  for (int i = 0; i < 1000; ++i) {  // until A has taken the job (it renders for seconds)
    auto stats = (*queue)->Stats();
    if (stats && stats->in_flight == 1) break;
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(kill(a->pid(), SIGKILL), 0);
  a->Stop();
  EXPECT_EQ(json::parse(Send(origin->port(), "GET", "/v1/images/" + id, {}).body)["status"],
            "pending")
      << "worker A finished before it was killed: the test needs a slower job";
  auto b = Start(slow, {"worker"});
  json ready = AwaitStatus(origin->port(), id, "ready");
  EXPECT_EQ(ready["variants"].size(), 6u);  // three presets, each as JPEG and as AVIF
  EXPECT_EQ(Webhooks("image.ready").size(), 1u);
}

TEST_F(JobsTest, AnS3EventForAKeyWithSpacesAndUnicodeIsProcessedOnceWhenDeliveredTwice) {
  const std::string key = "photos/My Trip/\xc3\xa9t\xc3\xa9 1.jpg";
  const std::string seed = MakeTempDir();  // the stand-in serves the buckets found here
  fs::create_directories(fs::path(seed) / "originals" / "photos" / "My Trip");
  std::ofstream(fs::path(seed) / "originals" / key, std::ios::binary) << Photo(900, 600);
  NodeStub s3("s3_stub.mjs", {"--dir", MakeTempDir(), "--seed", seed, "--key",
                              "AKIDIMGORIGINTEST:imgorigin-test-secret"});
  IMGORIGIN_REQUIRE_STUB(s3);
  auto env = OriginalsBucketEnv(s3);
  env["IMGORIGIN_ORIGINALS"] = "local";  // the event's object is read where it is
  env["IMGORIGIN_EVENTS_PREFIXES"] = "photos/";
  auto origin = Start(env);
  const std::string event = R"({"Records":[{"eventVersion":"2.1","eventSource":"aws:s3",
    "eventName":"ObjectCreated:Put","eventTime":"2026-12-04T01:00:00.000Z",
    "s3":{"bucket":{"name":"originals"},"object":{"key":"photos/My+Trip/%C3%A9t%C3%A9+1.jpg",
    "size":1234,"eTag":"0123456789abcdef0123456789abcdef","sequencer":"0A1B2C3D4E5F678901"}}}]})";
  for (const char* expected : {"created", "unchanged"}) {
    auto r = Send(origin->port(), "POST", "/v1/events/s3", {"Content-Type: application/json"},
                  event);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["records"][0]["outcome"], expected) << r.body;
    EXPECT_EQ(json::parse(r.body)["records"][0]["key"], key);
  }
  const json images = json::parse(Send(origin->port(), "GET", "/v1/images", {}).body)["images"];
  ASSERT_EQ(images.size(), 1u);
  const std::string id = images[0]["id"];
  EXPECT_EQ(images[0]["source_url"], "s3://originals/" + key);
  json ready = AwaitStatus(origin->port(), id, "ready");
  EXPECT_EQ(ready["width"], 900);
  EXPECT_EQ(ready["variants"].size(), 3u);
  EXPECT_EQ(Webhooks("image.ready").size(), 1u);

  const std::string removed = R"({"Records":[{"eventName":"ObjectRemoved:Delete",
    "s3":{"bucket":{"name":"originals"},"object":{"key":"photos/My+Trip/%C3%A9t%C3%A9+1.jpg",
    "sequencer":"0A1B2C3D4E5F678902"}}}]})";
  auto r = Send(origin->port(), "POST", "/v1/events/s3", {"Content-Type: application/json"},
                removed);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["records"][0]["outcome"], "removed");
  EXPECT_EQ(json::parse(Send(origin->port(), "GET", "/v1/images/" + id, {}).body)["status"],
            "deleted");
  EXPECT_FALSE(fs::exists(fs::path(variants_) / id / "small.jpg"));
  EXPECT_EQ(Webhooks("image.deleted").size(), 1u);

  // Outside the configured prefixes: nothing happens.
  std::string elsewhere = event;
  elsewhere.replace(elsewhere.find("photos/"), 7, "other/");
  r = Send(origin->port(), "POST", "/v1/events/s3", {"Content-Type: application/json"}, elsewhere);
  EXPECT_EQ(json::parse(r.body)["records"][0]["outcome"], "ignored") << r.body;
  EXPECT_EQ(Send(origin->port(), "POST", "/v1/events/s3", {"Content-Type: application/json"},
                 "{\"Records\": 7}")
                .status,
            400);
}

// Redis holds the jobs: stopped, uploads still answer 201 (the record is stored, pending); once
// a Redis answers again on its address, the reconciler queues their jobs and they become ready.
TEST_F(JobsTest, RedisStoppedMidRunLosesNothing) {
  auto redis = std::make_unique<RedisProcess>();
  IMGORIGIN_REQUIRE_SERVICE(*redis);
  const uint16_t port = redis->port();
  auto origin = Start({{"IMGORIGIN_JOBS_QUEUE", redis->url()},
                       {"IMGORIGIN_JOBS_RECONCILE_AFTER_S", "1"}});
  const std::string photo = Photo(640, 480);
  const std::string first = Created(Upload(origin->port(), "image/jpeg", photo))["id"];
  AwaitStatus(origin->port(), first, "ready");

  redis->Kill();
  auto during = Upload(origin->port(), "image/jpeg", Photo(641, 480));
  ASSERT_EQ(during.status, 201) << during.body;
  const std::string second = json::parse(during.body)["id"];
  EXPECT_EQ(json::parse(during.body)["status"], "pending");

  redis = std::make_unique<RedisProcess>("", port);  // empty: the queued jobs are gone too
  IMGORIGIN_REQUIRE_SERVICE(*redis);
  AwaitStatus(origin->port(), second, "ready");
  EXPECT_EQ(json::parse(Send(origin->port(), "GET", "/v1/images/" + first, {}).body)["status"],
            "ready");
}

// On AWS's queues (fauxqs behind its SigV4 check): the jobs and notifications go through SQS, and
// an S3 notification S3 itself put on the events queue is read from there.
TEST_F(JobsTest, OnSqsAnUploadAndAnS3NotificationFromItsQueueBecomeReady) {
  auto sqs = FauxqsClient("sqs");
  if (!sqs) {
    if (InCi()) FAIL() << sqs.error().message;
    GTEST_SKIP() << sqs.error().message;
  }
  const std::string prefix = "e2e-" + std::to_string(getpid()) + "-";
  for (const char* name : {"jobs", "notify", "events"}) {
    ASSERT_TRUE(CreateQueueWithDeadLetters(**sqs, prefix + name, 10));
  }
  const std::string key = "in/\xc3\x9c" "ber 2.jpg";
  const std::string seed = MakeTempDir();
  fs::create_directories(fs::path(seed) / "media" / "in");
  std::ofstream(fs::path(seed) / "media" / key, std::ios::binary) << Photo(700, 500);
  NodeStub s3("s3_stub.mjs", {"--dir", MakeTempDir(), "--seed", seed, "--key",
                              std::string(kFauxqsKeyId) + ":" + kFauxqsSecret});
  IMGORIGIN_REQUIRE_STUB(s3);
  auto origin = Start({{"IMGORIGIN_S3_ENABLED", "true"},
                       {"IMGORIGIN_S3_ENDPOINT", "http://127.0.0.1:" + std::to_string(s3.port("s3"))},
                       {"IMGORIGIN_S3_PATH_STYLE", "true"},
                       {"AWS_REGION", "us-east-1"},
                       {"AWS_ACCESS_KEY_ID", kFauxqsKeyId},
                       {"AWS_SECRET_ACCESS_KEY", kFauxqsSecret},
                       {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"},
                       {"AWS_EC2_METADATA_DISABLED", "true"},
                       {"IMGORIGIN_JOBS_QUEUE", "sqs"},
                       {"IMGORIGIN_SQS_ENDPOINT", FauxqsEndpoint()},
                       {"IMGORIGIN_SQS_JOBS_QUEUE", prefix + "jobs"},
                       {"IMGORIGIN_SQS_NOTIFY_QUEUE", prefix + "notify"},
                       {"IMGORIGIN_SQS_EVENTS_QUEUE", prefix + "events"},
                       {"IMGORIGIN_JOBS_POLL_WAIT_MS", "1000"}});
  const std::string uploaded = Created(Upload(origin->port(), "image/jpeg", Photo(640, 480)))["id"];
  EXPECT_EQ(AwaitStatus(origin->port(), uploaded, "ready")["variants"].size(), 3u);

  auto events_url = CreateQueue(**sqs, prefix + "events");
  ASSERT_TRUE(events_url);
  const std::string event = R"({"Records":[{"eventVersion":"2.1","eventSource":"aws:s3",
    "eventName":"ObjectCreated:Put","eventTime":"2026-12-04T01:00:00.000Z",
    "s3":{"bucket":{"name":"media"},"object":{"key":"in/%C3%9Cber+2.jpg","size":999,
    "eTag":"feedface","sequencer":"01"}}}]})";
  ASSERT_TRUE((*sqs)->CallJson("AmazonSQS.SendMessage",
                               {{"QueueUrl", *events_url}, {"MessageBody", event}}));
  json found;
  for (int i = 0; i < 400 && found.is_null(); ++i) {
    const json images = json::parse(Send(origin->port(), "GET", "/v1/images", {}).body)["images"];
    for (const json& image : images) {
      if (image["source_url"] == "s3://media/" + key) found = image;
    }
    if (found.is_null()) std::this_thread::sleep_for(50ms);
  }
  ASSERT_FALSE(found.is_null()) << "the S3 notification was never read from its queue";
  json ready = AwaitStatus(origin->port(), found["id"], "ready");
  EXPECT_EQ(ready["width"], 700);
  EXPECT_EQ(ready["variants"].size(), 3u);
  EXPECT_EQ(Webhooks("image.ready", 2).size(), 2u);
}

}  // namespace
}  // namespace imgorigin::testing
