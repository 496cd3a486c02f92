// POST/GET/DELETE /v1/images end to end: the real binary with SQLite records and local originals
// under its local root, PostgreSQL records from the harness (stopped to make the record store go
// down), and S3 originals on the SigV4-checking stand-in (s3_stub.mjs). Every upload form, the
// idempotent retry, bodies over the limit (declared and chunked) refused without storing
// anything, refused images (bomb, truncated, not an image), and preset URLs that render.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "signing/base64url.h"
#include "tests/integration/harness.h"
#include "tests/integration/ingest_fixtures.h"
#include "tests/integration/node_stub.h"
#include "tests/integration/postgres_harness.h"

namespace imgorigin::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace ingest_fixtures;

// Writes `request` on a raw connection (stopping once the server answers), then returns the
// answer until the server closes or 10 s pass: for bodies a client library would not send.
std::string RawExchange(uint16_t port, const std::string& request) {
  RawConnection c(port);
  if (!c.connected()) return "";
  c.SendUnlessAnswered(request);
  c.WaitClosed(std::chrono::seconds(10));
  return c.received();
}

// Sends `head`, then `body` in `pieces` parts `pause` apart, then reads the answer.
std::string SlowExchange(uint16_t port, const std::string& head, const std::string& body,
                         int pieces, std::chrono::milliseconds pause) {
  RawConnection c(port);
  if (!c.connected()) return "";
  if (c.Send(head)) {
    const size_t piece = (body.size() + pieces - 1) / pieces;
    for (size_t at = 0; at < body.size(); at += piece) {
      std::this_thread::sleep_for(pause);
      if (!c.Send(std::string_view(body).substr(at, piece))) break;
    }
  }
  c.WaitClosed(std::chrono::seconds(10));
  return c.received();
}

int StatusOf(const std::string& raw_reply) {
  if (!raw_reply.starts_with("HTTP/1.1 ")) return 0;
  return std::stoi(raw_reply.substr(9, 3));
}

class UploadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = MakeTempDir();
    data_ = MakeTempDir();
    temp_ = MakeTempDir();
  }

  std::map<std::string, std::string> Env(std::map<std::string, std::string> extra = {}) const {
    std::map<std::string, std::string> env = {
        {"IMGORIGIN_BIND", "127.0.0.1:0"},
        {"IMGORIGIN_KEY", kKeyHex},
        {"IMGORIGIN_SALT", kSaltHex},
        {"IMGORIGIN_LOOPS", "2"},
        {"IMGORIGIN_API_KEY", kApiKey},
        {"IMGORIGIN_LOCAL_ROOT", root_},
        {"IMGORIGIN_INGEST_ENABLED", "true"},
        {"IMGORIGIN_DATA_DIR", data_},
        {"IMGORIGIN_SOURCE_TEMP_DIR", temp_},
        {"IMGORIGIN_MAX_UPLOAD_BYTES", std::to_string(kMaxUpload)},
        {"IMGORIGIN_PRESETS", "small=rs:fit:320:320,medium=rs:fit:800:800"},
    };
    for (auto& [k, v] : extra) env[k] = v;
    return env;
  }

  std::unique_ptr<OriginProcess> Start(std::map<std::string, std::string> extra = {}) {
    auto origin = std::make_unique<OriginProcess>(Env(std::move(extra)));
    EXPECT_TRUE(origin->started()) << origin->output();
    return origin;
  }

  fs::path Uploads() const { return fs::path(root_) / "uploads"; }

  // Nothing stored: no original, no record, and (once the request is released) no temp file.
  void ExpectNothingStored(uint16_t port) {
    EXPECT_EQ(CountFiles(Uploads()), 0u);
    auto list = Send(port, "GET", "/v1/images", {});
    ASSERT_EQ(list.status, 200) << list.body;
    EXPECT_TRUE(json::parse(list.body)["images"].empty()) << list.body;
    for (int i = 0; i < 100 && CountFiles(temp_) > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(CountFiles(temp_), 0u);
  }

  std::string root_, data_, temp_;
};

TEST_F(UploadTest, RawUploadIsStoredRecordedAndRendersThroughItsPresetUrl) {
  auto origin = Start();
  auto r = Upload(origin->port(), "image/jpeg", Jpeg());
  json record = Created(r);
  const std::string id = record["id"];
  EXPECT_EQ(r.header("Location"), "/v1/images/" + id);
  EXPECT_EQ(record["status"], "ready");
  EXPECT_EQ(record["format"], "jpg");
  EXPECT_EQ(record["width"], 640);
  EXPECT_EQ(record["height"], 480);
  EXPECT_EQ(record["bytes"], static_cast<int64_t>(Jpeg().size()));
  EXPECT_EQ(record["source_url"], "local:///uploads/" + id);
  EXPECT_EQ(record["sha256"].get<std::string>().size(), 64u);
  EXPECT_TRUE(fs::exists(Uploads() / id));
  EXPECT_TRUE(record["urls"].contains("medium"));
  ExpectRenders(*origin, record);

  auto got = Send(origin->port(), "GET", "/v1/images/" + id, {});
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(json::parse(got.body)["sha256"], record["sha256"]);
}

TEST_F(UploadTest, MultipartWithMetadata) {
  auto origin = Start();
  const std::string boundary = "----imgorigin-test-boundary";
  const std::string body = "--" + boundary +
                           "\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n"
                           "{\"sku\":\"A-42\",\"tags\":[\"red\",\"blue\"]}\r\n--" +
                           boundary +
                           "\r\nContent-Disposition: form-data; name=\"file\"; "
                           "filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n" +
                           Jpeg() + "\r\n--" + boundary + "--\r\n";
  json record = Created(Upload(origin->port(), "multipart/form-data; boundary=" + boundary, body));
  EXPECT_EQ(record["metadata"]["sku"], "A-42");
  EXPECT_EQ(record["bytes"], static_cast<int64_t>(Jpeg().size()));
  ExpectRenders(*origin, record);
}

TEST_F(UploadTest, JsonBase64AndDataUri) {
  auto origin = Start();
  json record = Created(Upload(
      origin->port(), "application/json",
      json{{"type", "base64"}, {"data", Base64(Jpeg())}, {"metadata", {{"caption", "x"}}}}.dump()));
  EXPECT_EQ(record["metadata"]["caption"], "x");
  EXPECT_EQ(record["bytes"], static_cast<int64_t>(Jpeg().size()));
  ExpectRenders(*origin, record);
  json png = Created(Upload(
      origin->port(), "application/json",
      json{{"type", "base64"}, {"data", "data:image/png;base64," + Base64(Png(30, 20))}}.dump()));
  EXPECT_EQ(png["format"], "png");
  EXPECT_EQ(png["width"], 30);
  auto bad = Upload(origin->port(), "application/json",
                    json{{"type", "base64"}, {"data", "not base64 !!"}}.dump());
  EXPECT_EQ(bad.status, 400) << bad.body;
  auto unknown = Upload(origin->port(), "application/json", R"({"type":"ftp","data":"x"})");
  EXPECT_EQ(unknown.status, 400) << unknown.body;
  // Metadata over ingest.max_metadata_bytes (16 KiB by default) as compact JSON.
  auto big = Upload(origin->port(), "application/json",
                    json{{"type", "base64"},
                         {"data", Base64(Png(10, 10))},
                         {"metadata", {{"caption", std::string(20000, 'a')}}}}
                        .dump());
  EXPECT_EQ(big.status, 400) << big.body;
  EXPECT_EQ(json::parse(Send(origin->port(), "GET", "/v1/images", {}).body)["images"].size(), 2u);
}

TEST_F(UploadTest, JsonUrlFetchesThroughTheHttpSourceAndItsGuard) {
  const std::string files = MakeTempDir();
  {
    std::ofstream out(fs::path(files) / "a.jpg", std::ios::binary);
    out << Jpeg();
  }
  NodeStub stub("http_stub.mjs", {"--dir", files});
  IMGORIGIN_REQUIRE_STUB(stub);
  const std::string url = "http://127.0.0.1:" + std::to_string(stub.port("http")) + "/img/a.jpg";
  const std::string body = json{{"type", "url"}, {"data", url}}.dump();
  {
    // The SSRF guard holds for uploads too: loopback is refused by default.
    auto origin = Start();
    auto r = Upload(origin->port(), "application/json", body);
    EXPECT_EQ(r.status, 403) << r.body;
    ExpectNothingStored(origin->port());
  }
  auto origin = Start({{"IMGORIGIN_HTTP_ALLOW_PRIVATE_NETWORKS", "true"}});
  json record = Created(Upload(origin->port(), "application/json", body));
  EXPECT_EQ(record["bytes"], static_cast<int64_t>(Jpeg().size()));
  ExpectRenders(*origin, record);
}

TEST_F(UploadTest, IdempotentRetryReturnsTheFirstImage) {
  auto origin = Start();
  auto first = Upload(origin->port(), "image/jpeg", Jpeg(), {"Idempotency-Key: order-42"});
  auto again = Upload(origin->port(), "image/jpeg", Jpeg(), {"Idempotency-Key: order-42"});
  json a = Created(first);
  json b = Created(again);
  EXPECT_EQ(a["id"], b["id"]);
  EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(CountFiles(Uploads()), 1u);
  // The same key for other bytes is a conflict, and stores nothing.
  auto other = Upload(origin->port(), "image/png", Png(10, 10), {"Idempotency-Key: order-42"});
  EXPECT_EQ(other.status, 409) << other.body;
  auto long_key = Upload(origin->port(), "image/png", Png(10, 10),
                         {"Idempotency-Key: " + std::string(300, 'k')});
  EXPECT_EQ(long_key.status, 400) << long_key.body;
  EXPECT_EQ(CountFiles(Uploads()), 1u);
  auto list = json::parse(Send(origin->port(), "GET", "/v1/images", {}).body);
  EXPECT_EQ(list["images"].size(), 1u);
}

TEST_F(UploadTest, DeclaredBodyOverTheLimitIsRefusedFromItsHead) {
  auto origin = Start();
  // 200 MB declared; only the head and 64 KiB are sent, and the answer comes anyway.
  const std::string head = "POST /v1/images HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer " +
                           std::string(kApiKey) +
                           "\r\nContent-Type: image/jpeg\r\nContent-Length: 200000000\r\n\r\n";
  const std::string reply = RawExchange(origin->port(), head + std::string(64 << 10, 'x'));
  EXPECT_EQ(StatusOf(reply), 413) << reply.substr(0, 300);
  EXPECT_NE(reply.find("upload limit"), std::string::npos) << reply.substr(0, 300);
  // Through curl, which waits for 100 Continue: refused before the body is sent.
  auto r = Upload(origin->port(), "image/jpeg", std::string(kMaxUpload + 1, 'x'));
  EXPECT_EQ(r.status, 413) << r.body;
  ExpectNothingStored(origin->port());
  EXPECT_EQ(Send(origin->port(), "GET", "/health", {}).status, 200);
}

TEST_F(UploadTest, ChunkedBodyGrowingPastTheLimitIsRefused) {
  auto origin = Start();
  // Chunked bodies declare no length: refused once they grow past the limit.
  std::string request = "POST /v1/images HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer " +
                        std::string(kApiKey) +
                        "\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string chunk(64 << 10, 'x');
  for (int i = 0; i < 40; ++i) request += "10000\r\n" + chunk + "\r\n";  // 2.5 MiB
  request += "0\r\n\r\n";
  const std::string reply = RawExchange(origin->port(), request);
  EXPECT_EQ(StatusOf(reply), 413) << reply.substr(0, 300);
  // Under the body limit but over the image limit: read, then refused.
  std::string smaller = "POST /v1/images HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer " +
                        std::string(kApiKey) +
                        "\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n"
                        "Connection: close\r\n\r\n";
  for (int i = 0; i < 20; ++i) smaller += "10000\r\n" + chunk + "\r\n";  // 1.25 MiB
  smaller += "0\r\n\r\n";
  EXPECT_EQ(StatusOf(RawExchange(origin->port(), smaller)), 413);
  ExpectNothingStored(origin->port());
}

// Upload bodies have their own deadline instead of the header deadline: a body that trickles in
// for longer than the header timeout is taken, one slower than the upload timeout is cut off.
TEST_F(UploadTest, UploadBodiesHaveTheirOwnDeadline) {
  auto origin =
      Start({{"IMGORIGIN_HEADER_TIMEOUT_MS", "300"}, {"IMGORIGIN_UPLOAD_TIMEOUT_MS", "1500"}});
  const std::string image = Jpeg();
  const std::string head = "POST /v1/images HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer " +
                           std::string(kApiKey) +
                           "\r\nContent-Type: image/jpeg\r\nConnection: close\r\n"
                           "Content-Length: " +
                           std::to_string(image.size()) + "\r\n\r\n";
  const std::string taken =
      SlowExchange(origin->port(), head, image, 5, std::chrono::milliseconds(150));
  EXPECT_EQ(StatusOf(taken), 201) << taken.substr(0, 300);
  EXPECT_EQ(CountFiles(Uploads()), 1u);
  const std::string cut =
      SlowExchange(origin->port(), head, image, 10, std::chrono::milliseconds(250));
  EXPECT_EQ(cut, "") << "no answer, the connection is closed";
  EXPECT_EQ(CountFiles(Uploads()), 1u);
  for (int i = 0; i < 100 && CountFiles(temp_) > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(CountFiles(temp_), 0u);
}

TEST_F(UploadTest, RefusedImagesLeaveNothingBehind) {
  auto origin = Start();
  auto bomb = Upload(origin->port(), "image/png", BombPng());
  EXPECT_EQ(bomb.status, 413) << bomb.body;
  auto truncated = Upload(origin->port(), "image/jpeg", Jpeg().substr(0, Jpeg().size() / 2));
  EXPECT_EQ(truncated.status, 422) << truncated.body;
  auto text = Upload(origin->port(), "image/png", "this is not an image at all");
  EXPECT_EQ(text.status, 415) << text.body;
  auto type = Upload(origin->port(), "text/plain", Jpeg());
  EXPECT_EQ(type.status, 415) << type.body;
  auto empty = Upload(origin->port(), "image/png", "");
  EXPECT_EQ(empty.status, 400) << empty.body;
  ExpectNothingStored(origin->port());
}

TEST_F(UploadTest, ApiKeyIsRequired) {
  auto origin = Start();
  auto r = Send(origin->port(), "POST", "/v1/images", {"Content-Type: image/jpeg"}, Jpeg(),
                /*auth=*/false);
  EXPECT_EQ(r.status, 401) << r.body;
  auto wrong = Send(origin->port(), "GET", "/v1/images", {"Authorization: Bearer nope"}, "",
                    /*auth=*/false);
  EXPECT_EQ(wrong.status, 401) << wrong.body;
  ExpectNothingStored(origin->port());
}

TEST_F(UploadTest, ListPagesGetAndDeletePurges) {
  auto origin = Start();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(Created(Upload(origin->port(), "image/jpeg", Jpeg()))["id"]);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // ids order by millisecond
  }
  auto page = json::parse(Send(origin->port(), "GET", "/v1/images?limit=2", {}).body);
  ASSERT_EQ(page["images"].size(), 2u) << page.dump();
  EXPECT_EQ(page["images"][0]["id"], ids[0]);
  EXPECT_EQ(page["images"][1]["id"], ids[1]);
  ASSERT_TRUE(page["next_after"].is_string());
  auto rest =
      json::parse(Send(origin->port(), "GET",
                       "/v1/images?limit=2&after=" + page["next_after"].get<std::string>(), {})
                      .body);
  ASSERT_EQ(rest["images"].size(), 1u);
  EXPECT_EQ(rest["images"][0]["id"], ids[2]);
  EXPECT_TRUE(rest["next_after"].is_null());
  EXPECT_EQ(Send(origin->port(), "GET", "/v1/images?limit=0", {}).status, 400);

  const json record = json::parse(Send(origin->port(), "GET", "/v1/images/" + ids[1], {}).body);
  ExpectRenders(*origin, record);
  auto deleted = Send(origin->port(), "DELETE", "/v1/images/" + ids[1], {});
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  const json answer = json::parse(deleted.body);
  EXPECT_EQ(answer["image"]["status"], "deleted");
  EXPECT_EQ(answer["source"], "local:///uploads/" + ids[1]);
  EXPECT_TRUE(answer["cache_tag"].get<std::string>().starts_with("s-"));
  EXPECT_EQ(deleted.header("Cache-Tag"), answer["cache_tag"]);
  EXPECT_FALSE(fs::exists(Uploads() / ids[1]));
  // The variant rendered before is purged, and the original is gone.
  EXPECT_EQ(origin->Get(record["urls"]["small"].get<std::string>()).status, 404);
  auto tombstone = json::parse(Send(origin->port(), "GET", "/v1/images/" + ids[1], {}).body);
  EXPECT_EQ(tombstone["status"], "deleted");
  EXPECT_TRUE(tombstone["urls"].empty());
  EXPECT_EQ(json::parse(Send(origin->port(), "GET", "/v1/images", {}).body)["images"].size(), 2u);
  EXPECT_EQ(
      Send(origin->port(), "GET", "/v1/images/00000000-0000-7000-8000-000000000000", {}).status,
      404);
  EXPECT_EQ(Send(origin->port(), "GET", "/v1/images/not-an-id", {}).status, 404);
  EXPECT_EQ(
      Send(origin->port(), "DELETE", "/v1/images/00000000-0000-7000-8000-000000000000", {}).status,
      404);
  EXPECT_EQ(Send(origin->port(), "PUT", "/v1/images", {}).status, 405);
}

TEST_F(UploadTest, DisabledIngestAnswers404) {
  auto origin = Start({{"IMGORIGIN_INGEST_ENABLED", "false"}});
  auto r = Upload(origin->port(), "image/jpeg", Jpeg());
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(CountFiles(Uploads()), 0u);
}

TEST_F(UploadTest, PostgresRecordStoreDownGives503AndNothingHalfWritten) {
  PostgresProcess postgres;
  IMGORIGIN_REQUIRE_SERVICE(postgres);
  auto origin = Start({{"IMGORIGIN_RECORDS", postgres.conninfo()}});
  json first = Created(Upload(origin->port(), "image/jpeg", Jpeg()));
  ASSERT_TRUE(postgres.Stop());
  auto down = Upload(origin->port(), "image/jpeg", Jpeg());
  EXPECT_EQ(down.status, 503) << down.body;
  EXPECT_FALSE(down.header("Retry-After").empty());
  EXPECT_EQ(Send(origin->port(), "GET", "/v1/images", {}).status, 503);
  // The object written before the record was taken back.
  EXPECT_EQ(CountFiles(Uploads()), 1u);
  ASSERT_TRUE(postgres.Start());
  auto list = json::parse(Send(origin->port(), "GET", "/v1/images", {}).body);
  ASSERT_EQ(list["images"].size(), 1u) << list.dump();
  EXPECT_EQ(list["images"][0]["id"], first["id"]);
  ExpectRenders(*origin, first);
}

TEST_F(UploadTest, S3OriginalsWithServerSideEncryption) {
  const auto stub_owner = StartOriginalsBucket();
  const NodeStub& stub = *stub_owner;
  IMGORIGIN_REQUIRE_STUB(stub);
  auto env = OriginalsBucketEnv(stub);
  // Both SSE-KMS headers are signed (the stand-in refuses a signature without them).
  env["IMGORIGIN_ORIGINALS_SSE"] = "aws:kms";
  env["IMGORIGIN_ORIGINALS_SSE_KMS_KEY_ID"] = "alias/imgorigin-test";
  auto origin = Start(env);
  json record = Created(Upload(origin->port(), "image/jpeg", Jpeg()));
  const std::string id = record["id"];
  EXPECT_EQ(record["source_url"], "s3://originals/uploads/" + id);
  EXPECT_EQ(StatCount(StubStats(stub.port("s3")), "PUT originals/uploads/" + id), 1);
  ExpectRenders(*origin, record);
  EXPECT_EQ(CountFiles(Uploads()), 0u);

  auto deleted = Send(origin->port(), "DELETE", "/v1/images/" + id, {});
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(StatCount(StubStats(stub.port("s3")), "DELETE originals/uploads/" + id), 1);
  // Refused uploads put nothing into the bucket.
  EXPECT_EQ(Upload(origin->port(), "image/png", BombPng()).status, 413);
  EXPECT_EQ(StatCount(StubStats(stub.port("s3")), "rejected"), 0);
  const std::string stats = StubStats(stub.port("s3"));
  EXPECT_EQ(stats.find("\"PUT originals/uploads/"), stats.rfind("\"PUT originals/uploads/"))
      << "a refused upload reached the bucket: " << stats;
}

// Seed 002's GET /get_image serves the preset of a ready image, sharing the signed preset URL's
// cache entry. "large" is refused by its render here (a WebP over limits.max_result_pixels), so it
// is stood in for: by the original while no preset is cached, then by the nearest cached preset,
// smaller first; a stand-in says so and is kept briefly.
TEST_F(UploadTest, Seed002GetImageServesThePresetOrTheNearestCachedStandIn) {
  auto origin = Start({{"IMGORIGIN_PRESETS",
                        "small=rs:fit:160:160,medium=rs:fit:320:320,large=rs:fit:640:640/f:webp"},
                       {"IMGORIGIN_MAX_RESULT_PIXELS", "webp=200000"}});
  const json record = Created(Upload(origin->port(), "image/jpeg", Jpeg()));
  const std::string url = "/get_image?image_id=" + record["id"].get<std::string>() + "&image_size=";
  // What its signed URL answers.
  EXPECT_EQ(origin->Get(record["urls"]["large"].get<std::string>()).status, 400);
  constexpr char kLong[] = "public, max-age=31536000, immutable";
  constexpr char kShort[] = "public, max-age=60";
  auto expect_halves = [](const HttpResponse& r, int width, int height) {
    auto image = Decode(r.body);
    EXPECT_EQ(image.width(), width);
    EXPECT_EQ(image.height(), height);
    const auto reference = Flat(width / 2, height, 255, 0, 0)
                               .join(Flat(width / 2, height, 0, 0, 255), VIPS_DIRECTION_HORIZONTAL);
    EXPECT_LT(MeanAbsDiff(image, reference), 6.0);
  };

  // Nothing cached yet: the original itself, as uploaded.
  auto original = origin->Get(url + "large");
  ASSERT_EQ(original.status, 200) << original.body;
  EXPECT_EQ(original.header("X-Fallback"), "original");
  EXPECT_EQ(original.header("Cache-Control"), kShort);
  EXPECT_EQ(original.header("Content-Type"), "image/jpeg");
  EXPECT_EQ(original.header("ETag"), "\"" + record["sha256"].get<std::string>() + "\"");
  EXPECT_TRUE(original.body == Jpeg());
  auto head = HttpRequest(origin->port(), url + "large", {}, "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("X-Fallback"), "original");
  EXPECT_EQ(head.header("Content-Length"), std::to_string(Jpeg().size()));

  // A size that renders: the preset itself, with the usual headers.
  auto small = origin->Get(url + "small");
  ASSERT_EQ(small.status, 200) << small.body;
  EXPECT_EQ(small.header("X-Fallback"), "");
  EXPECT_EQ(small.header("X-Cache"), "MISS");
  EXPECT_EQ(small.header("Cache-Control"), kLong);
  EXPECT_EQ(small.header("Content-Type"), "image/jpeg");
  expect_halves(small, 160, 120);
  // One cache entry with the signed preset URL the images API lists.
  auto listed = origin->Get(record["urls"]["small"].get<std::string>());
  EXPECT_EQ(listed.header("X-Cache"), "HIT-MEMORY");
  EXPECT_EQ(listed.header("ETag"), small.header("ETag"));

  // Now "small" is cached: it stands in for "large".
  auto stand_in = origin->Get(url + "large");
  ASSERT_EQ(stand_in.status, 200) << stand_in.body;
  EXPECT_EQ(stand_in.header("X-Fallback"), "small");
  EXPECT_EQ(stand_in.header("Cache-Control"), kShort);
  EXPECT_EQ(stand_in.header("ETag"), small.header("ETag"));
  expect_halves(stand_in, 160, 120);

  // With "medium" cached too, the nearest smaller one stands in.
  auto medium = origin->Get(url + "medium");
  ASSERT_EQ(medium.status, 200) << medium.body;
  EXPECT_EQ(medium.header("X-Fallback"), "");
  expect_halves(medium, 320, 240);
  auto nearer = origin->Get(url + "large");
  ASSERT_EQ(nearer.status, 200) << nearer.body;
  EXPECT_EQ(nearer.header("X-Fallback"), "medium");
  EXPECT_EQ(nearer.header("Cache-Control"), kShort);
  expect_halves(nearer, 320, 240);
  // A client revalidating the stand-in it holds: 304, still marked and short-lived.
  auto revalidated = origin->Get(url + "large", {"If-None-Match: " + nearer.header("ETag")});
  EXPECT_EQ(revalidated.status, 304);
  EXPECT_EQ(revalidated.header("X-Fallback"), "medium");
  EXPECT_EQ(revalidated.header("Cache-Control"), kShort);
}

// Stand-ins are looked up in every cache tier, not only in memory.
TEST_F(UploadTest, Seed002StandInsComeFromTheSlowerTiersToo) {
  auto origin = Start({{"IMGORIGIN_PRESETS", "small=rs:fit:160:160,large=rs:fit:640:640/f:webp"},
                       {"IMGORIGIN_MAX_RESULT_PIXELS", "webp=200000"},
                       {"IMGORIGIN_MEMORY_CACHE_SIZE", "0"},
                       {"IMGORIGIN_DISK_CACHE_DIR", MakeTempDir()}});
  const json record = Created(Upload(origin->port(), "image/jpeg", Jpeg()));
  const std::string url = "/get_image?image_id=" + record["id"].get<std::string>() + "&image_size=";
  ASSERT_EQ(origin->Get(url + "small").status, 200);
  // The disk tier is written behind the answer: wait until the signed URL is answered from it.
  const std::string small = record["urls"]["small"];
  for (int i = 0; i < 100 && origin->Get(small).header("X-Cache") != "HIT-DISK"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto stand_in = origin->Get(url + "large");
  ASSERT_EQ(stand_in.status, 200) << stand_in.body;
  EXPECT_EQ(stand_in.header("X-Fallback"), "small");
  EXPECT_EQ(stand_in.header("X-Cache"), "HIT-DISK");
  EXPECT_EQ(Decode(stand_in.body).width(), 160);
}

// While the transform queue is full, /get_image tries no render: the size asked for is served
// only if a cache holds it, else a cached stand-in. One worker and no waiting room, kept busy by
// a slow render that the test can see running (its reserved render memory).
TEST_F(UploadTest, Seed002RendersNothingWhileTheTransformQueueIsFull) {
  auto origin = Start({{"IMGORIGIN_WORKERS", "1"},
                       {"IMGORIGIN_QUEUE_SIZE", "0"},
                       {"IMGORIGIN_PROCESSING_TIMEOUT_MS", "3000"}});
  const json record = Created(Upload(origin->port(), "image/jpeg", Jpeg()));
  const std::string url = "/get_image?image_id=" + record["id"].get<std::string>() + "&image_size=";
  ASSERT_EQ(origin->Get(url + "small").status, 200);

  auto metric = [&origin](const std::string& name) {
    return Metric(origin->Get("/metrics").body, name);
  };
  std::thread slow([&origin, &record] {
    origin->Get(
        Signed("/rs:fit:4000:4000/el:1/bl:200/plain/" + record["source_url"].get<std::string>()));
  });
  for (int i = 0; i < 300 && metric("imgorigin_render_memory_reserved_bytes") <= 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const double renders = metric("imgorigin_renders_total");
  auto cached = origin->Get(url + "small");
  auto stand_in = origin->Get(url + "medium");
  const bool still_busy = metric("imgorigin_render_memory_reserved_bytes") > 0;
  EXPECT_EQ(metric("imgorigin_renders_total"), renders);
  slow.join();
  ASSERT_TRUE(still_busy) << "the slow render ended too soon to keep the queue full";
  EXPECT_EQ(cached.status, 200);
  EXPECT_EQ(cached.header("X-Fallback"), "");
  ASSERT_EQ(stand_in.status, 200) << stand_in.body;
  EXPECT_EQ(stand_in.header("X-Fallback"), "small");
  EXPECT_EQ(Decode(stand_in.body).width(), 320);
  // Once the worker is free (a moment after the slow render's answer), the size asked for renders.
  HttpResponse medium = origin->Get(url + "medium");
  for (int i = 0; i < 100 && !medium.header("X-Fallback").empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    medium = origin->Get(url + "medium");
  }
  EXPECT_EQ(medium.header("X-Fallback"), "");
  EXPECT_EQ(Decode(medium.body).width(), 640);
}

TEST_F(UploadTest, Seed002GetImageRefusesBadQueriesAndUnknownImages) {
  auto origin = Start();
  const json record = Created(Upload(origin->port(), "image/jpeg", Jpeg()));
  const std::string id = record["id"];
  auto bad_size = origin->Get("/get_image?image_id=" + id + "&image_size=huge");
  EXPECT_EQ(bad_size.status, 400);
  EXPECT_NE(bad_size.body.find("image_size"), std::string::npos) << bad_size.body;
  auto no_id = origin->Get("/get_image?image_size=small");
  EXPECT_EQ(no_id.status, 400);
  EXPECT_NE(no_id.body.find("image_id"), std::string::npos) << no_id.body;
  EXPECT_EQ(origin->Get("/get_image?image_id=0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b&image_size=small")
                .status,
            404);
  EXPECT_EQ(
      Send(origin->port(), "POST", "/get_image?image_id=" + id + "&image_size=small", {}).status,
      405);
  ASSERT_EQ(Send(origin->port(), "DELETE", "/v1/images/" + id, {}).status, 200);
  EXPECT_EQ(origin->Get("/get_image?image_id=" + id + "&image_size=small").status, 404);

  auto off = Start({{"IMGORIGIN_DIALECT_SEED002", "false"}});
  const json other = Created(Upload(off->port(), "image/jpeg", Jpeg()));
  EXPECT_EQ(off->Get("/get_image?image_id=" + other["id"].get<std::string>() + "&image_size=small")
                .status,
            404);
}

// Seed 004's public URLs: allow-listed values unsigned, anything else only with s=, and the same
// cache entry as the equivalent signed imgproxy URL.
TEST_F(UploadTest, Seed004UrlsRenderTheRecordWithinTheAllowLists) {
  auto origin = Start();
  const json record = Created(Upload(origin->port(), "image/jpeg", Jpeg()));
  const std::string id = record["id"];
  const std::string path = "/api/v1/img/" + id + ".webp";

  auto thumb = origin->Get(path + "?thumbnail=200&rotate=90");
  ASSERT_EQ(thumb.status, 200) << thumb.body;
  EXPECT_EQ(thumb.header("Content-Type"), "image/webp");
  auto image = Decode(thumb.body);
  EXPECT_EQ(image.width(), 150);  // 640×480 fit in 200×200 → 200×150, then turned
  EXPECT_EQ(image.height(), 200);
  // The equivalent imgproxy URL is the same variant: answered from memory.
  const std::string imgproxy =
      Signed("/rs:fit:200:200/rot:90/f:webp/" + signing::Base64UrlEncode(record["source_url"].get<std::string>()));
  EXPECT_EQ(origin->Get(imgproxy).header("X-Cache"), "HIT-MEMORY");

  // Outside the allow-list: refused unsigned, served with the signature of path + sorted query.
  EXPECT_EQ(origin->Get(path + "?thumbnail=123").status, 403);
  const std::string canonical = path + "?quality=70&thumbnail=123";
  const std::string signed_canonical = Signed(canonical);
  const std::string s = signed_canonical.substr(1, signed_canonical.size() - 1 - canonical.size());
  auto signed_thumb = origin->Get(path + "?thumbnail=123&quality=70&s=" + s);
  ASSERT_EQ(signed_thumb.status, 200) << signed_thumb.body;
  EXPECT_EQ(Decode(signed_thumb.body).width(), 123);
  EXPECT_EQ(origin->Get(path + "?thumbnail=124&quality=70&s=" + s).status, 403);

  EXPECT_EQ(origin->Get(path + "?rotate=45").status, 400);
  EXPECT_EQ(origin->Get("/api/v1/img/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.webp").status, 404);
  // A deleted image is gone from the dialect too.
  ASSERT_EQ(Send(origin->port(), "DELETE", "/v1/images/" + id, {}).status, 200);
  EXPECT_EQ(origin->Get(path + "?thumbnail=400").status, 404);
}

// Seed 004's upload: the same upload path (forms, limits, streaming, API key) as
// POST /v1/images, answered {"id": …}.
TEST_F(UploadTest, Seed004PostTakesEveryUploadFormAndAnswersTheId) {
  auto origin = Start();
  const auto post = [&](const std::string& type, const std::string& body) {
    return Send(origin->port(), "POST", "/api/v1/img", {"Content-Type: " + type}, body);
  };
  auto r = post(
      "application/json",
      json{{"type", "base64"}, {"data", Base64(Jpeg())}, {"metadata", {{"sku", "A-42"}}}}.dump());
  const json answer = Created(r);
  ASSERT_EQ(answer.size(), 1u) << answer.dump();
  const std::string id = answer["id"];
  auto record = json::parse(Send(origin->port(), "GET", "/v1/images/" + id, {}).body);
  EXPECT_EQ(record["status"], "ready");
  EXPECT_EQ(record["metadata"]["sku"], "A-42");
  ExpectRenders(*origin, record);
  auto thumb = origin->Get("/api/v1/img/" + id + ".webp?thumbnail=200");
  ASSERT_EQ(thumb.status, 200) << thumb.body;
  EXPECT_EQ(Decode(thumb.body).width(), 200);

  EXPECT_EQ(Created(post("image/png", Png(30, 20))).size(), 1u);
  const std::string boundary = "b0undary";
  EXPECT_EQ(
      Created(post("multipart/form-data; boundary=" + boundary,
                   "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n" +
                       Png(8, 8) + "\r\n--" + boundary + "--\r\n"))
          .size(),
      1u);
  EXPECT_EQ(json::parse(Send(origin->port(), "GET", "/v1/images", {}).body)["images"].size(), 3u);

  // The same refusals: no key, not an image, a bomb, a declared length over the limit (answered
  // from the head: the body is streamed like /v1/images').
  EXPECT_EQ(Send(origin->port(), "POST", "/api/v1/img", {"Content-Type: image/jpeg"}, Jpeg(),
                 /*auth=*/false)
                .status,
            401);
  EXPECT_EQ(post("image/png", "not an image").status, 415);
  EXPECT_EQ(post("image/png", BombPng()).status, 413);
  const std::string head = "POST /api/v1/img HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer " +
                           std::string(kApiKey) +
                           "\r\nContent-Type: image/jpeg\r\nContent-Length: 200000000\r\n\r\n";
  const std::string reply = RawExchange(origin->port(), head + std::string(64 << 10, 'x'));
  EXPECT_EQ(StatusOf(reply), 413) << reply.substr(0, 300);
  EXPECT_EQ(CountFiles(Uploads()), 3u);
  EXPECT_EQ(Send(origin->port(), "PUT", "/api/v1/img", {}).status, 405);
}

TEST_F(UploadTest, Seed004PostIsOffWithItsDialect) {
  auto origin = Start({{"IMGORIGIN_DIALECT_SEED004", "false"}});
  auto r = Send(origin->port(), "POST", "/api/v1/img", {"Content-Type: image/jpeg"}, Jpeg());
  EXPECT_EQ(r.status, 404) << r.body;
  ExpectNothingStored(origin->port());
  // POST /v1/images is unaffected.
  Created(Upload(origin->port(), "image/jpeg", Jpeg()));
}

}  // namespace
}  // namespace imgorigin::testing
