// Direct (presigned) uploads end to end: the real binary with SQLite records and S3 originals on
// the SigV4-checking stand-in (s3_stub.mjs), which verifies presigned query signatures as S3
// does. POST /v1/uploads signs a PUT that a plain `curl -T` with the returned headers can use,
// and nothing else can (a forged signature, another key, another Content-Type, a missing
// encryption header, an expired URL: all 403 from S3); /complete checks the object as uploads
// are checked, makes the record ready, or deletes a refused object (bomb, non-image, too large:
// sized by HEAD, never downloaded) and fails the record. Seed 002's POST /upload is the same
// flow in its own shape. With local originals the URL is imgorigin's own signed PUT.
#include <gtest/gtest.h>
#include <stdio.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/integration/ingest_fixtures.h"
#include "tests/integration/node_stub.h"

namespace imgorigin::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace ingest_fixtures;

// The request headers a presigned URL must be sent with, from an answer's "headers".
std::vector<std::string> SignedHeaders(const json& grant) {
  std::vector<std::string> headers;
  for (const auto& [name, value] : grant["headers"].items()) {
    headers.push_back(name + ": " + value.get<std::string>());
  }
  return headers;
}

// PUTs `body` to `url` (http://127.0.0.1:port/…) with `headers`, as a browser would.
HttpResponse PutTo(const std::string& url, const std::vector<std::string>& headers,
                   const std::string& body) {
  const std::string prefix = "http://127.0.0.1:";
  EXPECT_TRUE(url.starts_with(prefix)) << url;
  const size_t slash = url.find('/', prefix.size());
  const auto port = static_cast<uint16_t>(std::stoi(url.substr(prefix.size(), slash)));
  return HttpRequest(port, url.substr(slash), headers, "PUT", body);
}

// `curl -T <file> -H … <url>`: the status code curl saw.
int CurlUpload(const std::string& url, const std::vector<std::string>& headers,
               const std::string& body) {
  const std::string file = MakeTempDir() + "/image";
  std::ofstream(file, std::ios::binary) << body;
  std::string command = "curl -sS -o /dev/null -w '%{http_code}' -T '" + file + "'";
  for (const auto& header : headers) command += " -H '" + header + "'";
  command += " '" + url + "'";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return 0;
  char out[16] = {};
  const size_t n = fread(out, 1, sizeof out - 1, pipe);
  pclose(pipe);
  return std::atoi(std::string(out, n).c_str());
}

class PresignTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = MakeTempDir();
    data_ = MakeTempDir();
    stub_ = StartOriginalsBucket();
  }

  std::unique_ptr<OriginProcess> Start(std::map<std::string, std::string> extra = {}) {
    std::map<std::string, std::string> env = {
        {"IMGORIGIN_BIND", "127.0.0.1:0"},
        {"IMGORIGIN_KEY", kKeyHex},
        {"IMGORIGIN_SALT", kSaltHex},
        {"IMGORIGIN_LOOPS", "2"},
        {"IMGORIGIN_API_KEY", kApiKey},
        {"IMGORIGIN_LOCAL_ROOT", root_},
        {"IMGORIGIN_INGEST_ENABLED", "true"},
        {"IMGORIGIN_DATA_DIR", data_},
        {"IMGORIGIN_MAX_UPLOAD_BYTES", std::to_string(kMaxUpload)},
        {"IMGORIGIN_PRESETS", "small=rs:fit:320:320"},
        // Signed into the URL: the client must send it, and S3 encrypts what it is sent.
        {"IMGORIGIN_ORIGINALS_SSE", "AES256"},
    };
    env.merge(OriginalsBucketEnv(*stub_));
    for (auto& [k, v] : extra) env[k] = v;
    auto origin = std::make_unique<OriginProcess>(env);
    EXPECT_TRUE(origin->started()) << origin->output();
    return origin;
  }

  json Begin(const OriginProcess& origin, const json& request,
             const std::string& path = "/v1/uploads") {
    auto r = Send(origin.port(), "POST", path, {"Content-Type: application/json"}, request.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    if (r.status != 201) return json::object();
    return json::parse(r.body);
  }

  HttpResponse Complete(const OriginProcess& origin, const std::string& id,
                        const std::string& base = "/v1/uploads") {
    return Send(origin.port(), "POST", base + "/" + id + "/complete", {});
  }

  json Record(const OriginProcess& origin, const std::string& id) {
    return json::parse(Send(origin.port(), "GET", "/v1/images/" + id, {}).body);
  }

  // Requests the stand-in saw for `key` below the originals prefix ("<id>", ".incoming/<id>").
  long Requests(const std::string& method, const std::string& key) {
    return StatCount(StubStats(stub_->port("s3")), method + " originals/uploads/" + key);
  }

  std::string root_, data_;
  std::unique_ptr<NodeStub> stub_;
};

TEST_F(PresignTest, CurlPutsThroughThePresignedUrlAndCompleteMakesTheImageReady) {
  IMGORIGIN_REQUIRE_STUB(*stub_);
  auto origin = Start();
  const json grant =
      Begin(*origin, {{"content_type", "image/jpeg"}, {"metadata", {{"sku", "A-42"}}}});
  const std::string id = grant["id"];
  EXPECT_EQ(grant["method"], "PUT");
  EXPECT_NE(grant["upload_url"].get<std::string>().find("/originals/uploads/.incoming/" + id + "?"),
            std::string::npos);
  EXPECT_NE(grant["upload_url"].get<std::string>().find("X-Amz-Signature="), std::string::npos);
  EXPECT_EQ(grant["headers"]["Content-Type"], "image/jpeg");
  EXPECT_EQ(grant["headers"]["x-amz-server-side-encryption"], "AES256");
  EXPECT_TRUE(grant["expires_at"].get<std::string>().ends_with("Z"));
  EXPECT_EQ(grant["complete_url"], "/v1/uploads/" + id + "/complete");
  EXPECT_EQ(grant["record"]["status"], "pending");
  EXPECT_EQ(grant["record"]["source_url"], "s3://originals/uploads/" + id);
  EXPECT_TRUE(grant["record"]["format"].is_null());

  // Completing before the object is there changes nothing: the client may still PUT it.
  auto early = Complete(*origin, id);
  EXPECT_EQ(early.status, 409) << early.body;
  EXPECT_EQ(Record(*origin, id)["status"], "pending");

  EXPECT_EQ(CurlUpload(grant["upload_url"], SignedHeaders(grant), Jpeg()), 200);
  auto done = Complete(*origin, id);
  ASSERT_EQ(done.status, 200) << done.body;
  const json record = json::parse(done.body);
  EXPECT_EQ(record["status"], "ready");
  EXPECT_EQ(record["format"], "jpg");
  EXPECT_EQ(record["width"], 640);
  EXPECT_EQ(record["height"], 480);
  EXPECT_EQ(record["bytes"], static_cast<int64_t>(Jpeg().size()));
  EXPECT_EQ(record["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(record["metadata"]["sku"], "A-42");
  ExpectRenders(*origin, record);

  // The original is the checked bytes, written by imgorigin; the incoming object is gone.
  EXPECT_EQ(Requests("PUT", id), 1);
  EXPECT_EQ(Requests("DELETE", ".incoming/" + id), 1);

  // The URL is still valid, but a new PUT through it reaches only the incoming object: the
  // record and what renders stay as checked. Completing again answers the ready record without
  // reading anything.
  EXPECT_EQ(CurlUpload(grant["upload_url"], SignedHeaders(grant), BombPng()), 200);
  const long gets = Requests("GET", ".incoming/" + id);
  auto again = Complete(*origin, id);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body)["sha256"], record["sha256"]);
  EXPECT_EQ(json::parse(again.body)["updated_at"], record["updated_at"]);
  EXPECT_EQ(Requests("GET", ".incoming/" + id), gets);
  EXPECT_EQ(Requests("PUT", id), 1);
  ExpectRenders(*origin, json::parse(again.body));
}

// Temporary credentials (here from the ECS/EKS container endpoint) put their session token into
// the URL; without it S3 refuses the signature.
TEST_F(PresignTest, TemporaryCredentialsSignTheirSessionTokenIntoTheUrl) {
  IMGORIGIN_REQUIRE_STUB(*stub_);
  auto origin = Start({{"AWS_ACCESS_KEY_ID", ""},
                       {"AWS_SECRET_ACCESS_KEY", ""},
                       {"AWS_CONTAINER_CREDENTIALS_FULL_URI",
                        "http://127.0.0.1:" + std::to_string(stub_->port("creds")) + "/container"},
                       {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-secret-token"}});
  const json grant = Begin(*origin, {{"content_type", "image/jpeg"}});
  const std::string url = grant["upload_url"];
  const size_t token = url.find("X-Amz-Security-Token=token-container-");
  ASSERT_NE(token, std::string::npos) << url;
  std::string stripped = url;
  stripped.erase(token, stripped.find('&', token) + 1 - token);
  EXPECT_EQ(PutTo(stripped, SignedHeaders(grant), Jpeg()).status, 403);
  EXPECT_EQ(CurlUpload(url, SignedHeaders(grant), Jpeg()), 200);
  auto done = Complete(*origin, grant["id"]);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(json::parse(done.body)["status"], "ready");
}

TEST_F(PresignTest, S3RefusesForgedExpiredAndMismatchedPuts) {
  IMGORIGIN_REQUIRE_STUB(*stub_);
  auto origin = Start();
  const json grant = Begin(*origin, {{"content_type", "image/jpeg"}});
  const std::string id = grant["id"];
  const std::string url = grant["upload_url"];
  const auto headers = SignedHeaders(grant);

  std::string forged = url;
  const size_t signature = forged.find("X-Amz-Signature=") + 16;
  forged[signature] = forged[signature] == 'a' ? 'b' : 'a';
  EXPECT_EQ(CurlUpload(forged, headers, Jpeg()), 403);
  // The same signature for another object: the key is signed.
  const json other = Begin(*origin, {{"content_type", "image/jpeg"}});
  std::string moved = url;
  moved.replace(moved.find(id), id.size(), other["id"].get<std::string>());
  EXPECT_EQ(PutTo(moved, headers, Jpeg()).status, 403);
  // Another Content-Type than the one signed, or the encryption header left out.
  EXPECT_EQ(
      PutTo(url, {"Content-Type: image/png", "x-amz-server-side-encryption: AES256"}, Png(8, 8))
          .status,
      403);
  EXPECT_EQ(PutTo(url, {"Content-Type: image/jpeg"}, Jpeg()).status, 403);

  const json brief = Begin(*origin, {{"content_type", "image/jpeg"}, {"expires_in", 1}});
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(CurlUpload(brief["upload_url"], SignedHeaders(brief), Jpeg()), 403);

  EXPECT_GE(StatCount(StubStats(stub_->port("s3")), "rejected"), 5);
  for (const auto& pending : {id, other["id"].get<std::string>(), brief["id"].get<std::string>()}) {
    EXPECT_EQ(Complete(*origin, pending).status, 409);
    EXPECT_EQ(Record(*origin, pending)["status"], "pending");
  }
}

TEST_F(PresignTest, RefusedObjectsAreDeletedAndTheirRecordsFail) {
  IMGORIGIN_REQUIRE_STUB(*stub_);
  auto origin = Start();
  struct Case {
    std::string name;
    std::string bytes;
    int status;
  };
  const std::vector<Case> cases = {
      {"bomb", BombPng(), 413},
      {"not an image", "this is not an image at all", 415},
      {"truncated", Jpeg().substr(0, Jpeg().size() / 2), 422},
      // A presigned PUT cannot bound its size: refused by its HEAD, never downloaded.
      {"too large", std::string(kMaxUpload + 1, 'x'), 413},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const json grant = Begin(*origin, {{"content_type", "image/png"}});
    const std::string id = grant["id"];
    ASSERT_EQ(PutTo(grant["upload_url"], SignedHeaders(grant), c.bytes).status, 200);
    auto refused = Complete(*origin, id);
    EXPECT_EQ(refused.status, c.status) << refused.body;
    const json record = Record(*origin, id);
    EXPECT_EQ(record["status"], "failed");
    EXPECT_FALSE(record["last_error"].get<std::string>().empty());
    EXPECT_TRUE(record["urls"].empty());
    EXPECT_EQ(Requests("DELETE", ".incoming/" + id), 1);
    EXPECT_EQ(Requests("PUT", id), 0) << "no original was written";
    if (c.name == "too large") {
      EXPECT_EQ(Requests("GET", ".incoming/" + id), 0);
    }
    // Completing again finds nothing to check: the record stays failed.
    EXPECT_EQ(Complete(*origin, id).status, 409);
    EXPECT_EQ(Record(*origin, id)["status"], "failed");
  }
}

TEST_F(PresignTest, BadRequestsAreRefusedAndMakeNoRecord) {
  IMGORIGIN_REQUIRE_STUB(*stub_);
  auto origin = Start();
  const auto begin = [&](const std::string& body) {
    return Send(origin->port(), "POST", "/v1/uploads", {"Content-Type: application/json"}, body)
        .status;
  };
  EXPECT_EQ(HttpRequest(origin->port(), "/v1/uploads", {"Content-Type: application/json"}, "POST",
                        R"({"content_type":"image/jpeg"})")
                .status,
            401);
  EXPECT_EQ(begin("not json"), 400);
  EXPECT_EQ(begin("{}"), 400);
  EXPECT_EQ(begin(R"({"content_type":"text/plain"})"), 415);
  EXPECT_EQ(begin(R"({"content_type":"image/x-made-up"})"), 415);
  EXPECT_EQ(begin(R"({"content_type":"image/jpeg","expires_in":3601})"), 400);
  EXPECT_EQ(begin(R"({"content_type":"image/jpeg","expires_in":0})"), 400);
  EXPECT_EQ(begin(R"({"content_type":"image/jpeg","expires_in":"soon"})"), 400);
  EXPECT_EQ(begin(R"({"content_type":"image/jpeg","expires_in":1e30})"), 400);
  EXPECT_EQ(begin(R"({"content_type":"image/jpeg","metadata":[1]})"), 400);
  EXPECT_EQ(Send(origin->port(), "GET", "/v1/uploads", {}).status, 405);
  EXPECT_EQ(json::parse(Send(origin->port(), "GET", "/v1/images", {}).body)["images"].size(), 0u);

  EXPECT_EQ(Complete(*origin, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b").status, 404);
  EXPECT_EQ(Complete(*origin, "..%2F..%2Fetc").status, 404);
  EXPECT_EQ(Send(origin->port(), "POST", "/v1/uploads/x/y", {}).status, 404);
  // Another upload's id: completing a ready image answers it unchanged.
  const json uploaded = Created(Upload(origin->port(), "image/jpeg", Jpeg()));
  auto ready = Complete(*origin, uploaded["id"]);
  ASSERT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(json::parse(ready.body)["sha256"], uploaded["sha256"]);
  // A deleted image cannot be brought back.
  ASSERT_EQ(
      Send(origin->port(), "DELETE", "/v1/images/" + uploaded["id"].get<std::string>(), {}).status,
      200);
  EXPECT_EQ(Complete(*origin, uploaded["id"]).status, 404);
  EXPECT_EQ(
      HttpRequest(origin->port(), "/v1/uploads/" + uploaded["id"].get<std::string>() + "/complete",
                  {}, "POST")
          .status,
      401);
}

TEST_F(PresignTest, Seed002UploadIsThePresignedUploadInItsShape) {
  IMGORIGIN_REQUIRE_STUB(*stub_);
  auto origin = Start();
  const json grant =
      Begin(*origin, {{"content_type", "image/jpg"}, {"filename", "cat.jpg"}}, "/upload");
  EXPECT_EQ(grant.size(), 4u) << grant.dump();
  const std::string id = grant["image_id"];
  EXPECT_EQ(grant["headers"]["Content-Type"], "image/jpeg") << "the canonical type is signed";
  EXPECT_TRUE(grant.contains("expires_at"));
  ASSERT_EQ(PutTo(grant["upload_url"], SignedHeaders(grant), Jpeg()).status, 200);
  auto done = Complete(*origin, id, "/upload");
  ASSERT_EQ(done.status, 200) << done.body;
  const json record = json::parse(done.body);
  EXPECT_EQ(record["status"], "ready");
  EXPECT_EQ(record["metadata"]["filename"], "cat.jpg");
  EXPECT_EQ(Complete(*origin, id).status, 200) << "the same completion under /v1/uploads";
  EXPECT_EQ(Send(origin->port(), "POST", "/upload", {"Content-Type: application/json"},
                 R"({"content_type":"image/jpeg","filename":7})")
                .status,
            400);
}

TEST_F(PresignTest, Seed002IsOffWithItsDialect) {
  IMGORIGIN_REQUIRE_STUB(*stub_);
  auto origin = Start({{"IMGORIGIN_DIALECT_SEED002", "false"}});
  auto r = Send(origin->port(), "POST", "/upload", {"Content-Type: application/json"},
                R"({"content_type":"image/jpeg"})");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(json::parse(Send(origin->port(), "GET", "/v1/images", {}).body)["images"].size(), 0u);
  Begin(*origin, {{"content_type", "image/jpeg"}});  // /v1/uploads is unaffected
}

// Local originals (the embedded default): the URL is imgorigin's own PUT, signed with the API
// key's HMAC, answered without the API key, streamed to a file, and checked at complete as an S3
// upload is.
TEST_F(PresignTest, LocalOriginalsUploadThroughImgoriginsOwnSignedPut) {
  auto origin = Start({{"IMGORIGIN_ORIGINALS", "local"},
                       {"IMGORIGIN_ORIGINALS_SSE", ""},
                       {"IMGORIGIN_S3_ENABLED", "false"}});
  const json grant = Begin(*origin, {{"content_type", "image/jpeg"}});
  const std::string id = grant["id"];
  const std::string url = grant["upload_url"];
  const std::string base = "http://127.0.0.1:" + std::to_string(origin->port());
  EXPECT_TRUE(url.starts_with(base + "/v1/uploads/" + id + "/object?expires=")) << url;
  EXPECT_EQ(grant["headers"], json({{"Content-Type", "image/jpeg"}}));
  EXPECT_EQ(grant["record"]["source_url"], "local:///uploads/" + id);
  const fs::path uploads = fs::path(root_) / "uploads";

  // Refused from the head: a forged signature, another id, another type, a missing signature,
  // a declared length over the limit.
  std::string forged = url;
  forged[forged.size() - 1] = forged.back() == 'a' ? 'b' : 'a';
  EXPECT_EQ(CurlUpload(forged, SignedHeaders(grant), Jpeg()), 403);
  const json other = Begin(*origin, {{"content_type", "image/jpeg"}});
  std::string moved = url;
  moved.replace(moved.find(id), id.size(), other["id"].get<std::string>());
  EXPECT_EQ(PutTo(moved, SignedHeaders(grant), Jpeg()).status, 403);
  EXPECT_EQ(PutTo(url, {"Content-Type: image/png"}, Png(8, 8)).status, 403);
  EXPECT_EQ(PutTo(url.substr(0, url.find('?')), SignedHeaders(grant), Jpeg()).status, 403);
  EXPECT_EQ(PutTo(url, SignedHeaders(grant), std::string(kMaxUpload + 1, 'x')).status, 413);
  EXPECT_FALSE(fs::exists(uploads / ".incoming" / id));
  EXPECT_EQ(Complete(*origin, id).status, 409);

  EXPECT_EQ(CurlUpload(url, SignedHeaders(grant), Jpeg()), 200);
  auto done = Complete(*origin, id);
  ASSERT_EQ(done.status, 200) << done.body;
  const json record = json::parse(done.body);
  EXPECT_EQ(record["status"], "ready");
  EXPECT_EQ(record["bytes"], static_cast<int64_t>(Jpeg().size()));
  EXPECT_TRUE(fs::exists(uploads / id));
  EXPECT_FALSE(fs::exists(uploads / ".incoming" / id));
  ExpectRenders(*origin, record);
  // The URL is over once the image is ready: a bomb through it is refused and leaves nothing.
  EXPECT_EQ(PutTo(url, SignedHeaders(grant), BombPng()).status, 409);
  EXPECT_FALSE(fs::exists(uploads / ".incoming" / id));
  EXPECT_EQ(json::parse(Complete(*origin, id).body)["sha256"], record["sha256"]);
  ExpectRenders(*origin, record);

  // A bomb as the first upload: refused at complete, the incoming file deleted.
  EXPECT_EQ(PutTo(other["upload_url"], SignedHeaders(other), BombPng()).status, 200);
  EXPECT_EQ(Complete(*origin, other["id"]).status, 413);
  EXPECT_EQ(Record(*origin, other["id"])["status"], "failed");
  EXPECT_FALSE(fs::exists(uploads / ".incoming" / other["id"].get<std::string>()));

  const json brief = Begin(*origin, {{"content_type", "image/jpeg"}, {"expires_in", 1}});
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(PutTo(brief["upload_url"], SignedHeaders(brief), Jpeg()).status, 403);
}

TEST_F(PresignTest, LocalUploadUrlsUseThePublicUrl) {
  auto origin = Start({{"IMGORIGIN_ORIGINALS", "local"},
                       {"IMGORIGIN_ORIGINALS_SSE", ""},
                       {"IMGORIGIN_S3_ENABLED", "false"},
                       {"IMGORIGIN_PUBLIC_URL", "https://img.example.com"}});
  const json grant = Begin(*origin, {{"content_type", "image/png"}}, "/upload");
  EXPECT_TRUE(grant["upload_url"].get<std::string>().starts_with(
      "https://img.example.com/v1/uploads/" + grant["image_id"].get<std::string>() + "/object?"))
      << grant.dump();
}

}  // namespace
}  // namespace imgorigin::testing
