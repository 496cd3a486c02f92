// The S3 client's write side against s3rver behind the SigV4-verifying proxy
// (tests/integration/s3_stub.mjs): presigned URLs used by a plain HTTP client as `curl -T` does
// (forged, tampered and expired ones refused with 403), temporary credentials in presigned URLs,
// PutObject and multipart uploads with server-side encryption read back byte for byte, a failed
// multipart upload aborted, the HEAD / ranged GET / DELETE helpers, ListObjectsV2 pages (keys
// that need escaping in XML and in URLs, start-after, empty listings), downloads to temporary
// files (and their limits), and user metadata through PutObject and multipart uploads.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "storage/s3_client.h"
#include "storage/sigv4.h"
#include "tests/integration/harness.h"
#include "tests/integration/node_stub.h"

namespace imgorigin::testing {
namespace {

namespace fs = std::filesystem;
using storage::S3Client;

constexpr char kAccessKey[] = "AKIDIMGORIGINTEST";
constexpr char kSecret[] = "imgorigin-test-secret";
constexpr char kContainerToken[] = "container-auth-token";
constexpr char kBucket[] = "media";
constexpr char kEmptyBucket[] = "empty";
constexpr int64_t kMiB = int64_t{1} << 20;

std::string RandomBytes(size_t size, uint32_t seed) {
  std::mt19937 random(seed);
  std::string bytes(size, '\0');
  for (auto& c : bytes) c = static_cast<char>(random());
  return bytes;
}

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

size_t FilesIn(const std::string& dir) {
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

std::string WriteFile(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

struct CurlAnswer {
  long status = 0;
  std::string body;
};

// What `curl -T file -H header… url` does: a PUT whose body is read from the file.
CurlAnswer CurlUpload(const std::string& url, const std::string& path,
                      const std::vector<std::string>& headers) {
  CurlAnswer answer;
  CurlPtr curl(curl_easy_init());
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return answer;
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_READDATA, file);
  curl_easy_setopt(curl.get(), CURLOPT_INFILESIZE_LARGE,
                   static_cast<curl_off_t>(fs::file_size(path)));
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(
      curl.get(), CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* out) {
        static_cast<std::string*>(out)->append(data, size * n);
        return size * n;
      });
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &answer.body);
  if (curl_easy_perform(curl.get()) == CURLE_OK) {
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &answer.status);
  }
  curl_slist_free_all(list);
  std::fclose(file);
  return answer;
}

// A plain GET of a URL (a presigned one: no credentials of its own).
CurlAnswer CurlGet(const std::string& url) {
  CurlAnswer answer;
  CurlPtr curl(curl_easy_init());
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(
      curl.get(), CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* out) {
        static_cast<std::string*>(out)->append(data, size * n);
        return size * n;
      });
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &answer.body);
  if (curl_easy_perform(curl.get()) == CURLE_OK) {
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &answer.status);
  }
  return answer;
}

std::string ReplaceQuery(std::string url, const std::string& name, const std::string& value) {
  size_t at = url.find(name + "=");
  size_t end = url.find('&', at);
  return url.replace(at + name.size() + 1,
                     (end == std::string::npos ? url.size() : end) - at - name.size() - 1, value);
}

class S3StorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fixtures_ = MakeTempDir();
    fs::create_directories(fs::path(fixtures_) / kBucket);
    fs::create_directories(fs::path(fixtures_) / kEmptyBucket);
    std::ofstream(fs::path(fixtures_) / kBucket / "seed.txt") << "seed";
    stub_ = std::make_unique<NodeStub>(
        "s3_stub.mjs", std::vector<std::string>{"--dir", MakeTempDir(), "--seed", fixtures_,
                                                "--key", std::string(kAccessKey) + ":" + kSecret,
                                                "--container-token", kContainerToken});
    IMGORIGIN_REQUIRE_STUB(*stub_);
    work_ = MakeTempDir();
  }

  // A client of the stub with static keys, or with `extra` replacing variables.
  std::unique_ptr<S3Client> Client(std::map<std::string, std::string> extra = {}) const {
    std::map<std::string, std::string> env = {
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
    auto client =
        S3Client::Create({.region = "us-east-1",
                          .endpoint = "http://127.0.0.1:" + std::to_string(stub_->port("s3")),
                          .path_style = true},
                         [env](std::string_view name) -> std::optional<std::string> {
                           auto it = env.find(std::string(name));
                           if (it == env.end()) return std::nullopt;
                           return it->second;
                         });
    EXPECT_TRUE(client) << client.error().message;
    return client ? *std::move(client) : nullptr;
  }

  std::string Stats() const { return StubStats(stub_->port("s3")); }

  // The whole object as stored, through a signed GET.
  std::string Download(const S3Client& client, const std::string& key) const {
    storage::HttpRequest request;
    request.url = client.ObjectUrl({.bucket = kBucket, .key = key});
    auto response = client.Perform(request, {});
    EXPECT_TRUE(response);
    if (!response) return "";
    EXPECT_EQ(response->status, 200) << response->body.substr(0, 300);
    return response->body;
  }

  std::string fixtures_;
  std::string work_;
  std::unique_ptr<NodeStub> stub_;
};

TEST_F(S3StorageTest, PresignedPutWorksFromAPlainCurlUpload) {
  auto client = Client();
  const std::string bytes = RandomBytes(300 * 1024, 1);
  const std::string path = WriteFile(work_, "photo.jpg", bytes);
  auto presigned = client->Presign(
      {.bucket = kBucket, .key = "uploads/new photo+1.jpg"},
      {.method = "PUT", .expires = std::chrono::seconds(300), .content_type = "image/jpeg"});
  ASSERT_TRUE(presigned) << presigned.error().message;
  ASSERT_EQ(presigned->headers.size(), 1u);
  EXPECT_EQ(presigned->headers[0].first, "Content-Type");

  CurlAnswer put = CurlUpload(presigned->url, path, {"Content-Type: image/jpeg"});
  EXPECT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(StatCount(Stats(), "presigned"), 1) << Stats();

  auto info = client->HeadObject({.bucket = kBucket, .key = "uploads/new photo+1.jpg"});
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->size, static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(info->content_type, "image/jpeg");
  EXPECT_FALSE(info->etag.empty());
  EXPECT_EQ(Download(*client, "uploads/new photo+1.jpg"), bytes);

  // A presigned GET of the same object, and the first bytes by a ranged read.
  auto get = client->Presign({.bucket = kBucket, .key = "uploads/new photo+1.jpg"},
                             {.method = "GET", .expires = std::chrono::seconds(60)});
  ASSERT_TRUE(get);
  CurlAnswer got = CurlGet(get->url);
  EXPECT_EQ(got.status, 200);
  EXPECT_TRUE(got.body == bytes);
  auto prefix = client->ReadPrefix({.bucket = kBucket, .key = "uploads/new photo+1.jpg"}, 64);
  ASSERT_TRUE(prefix) << prefix.error().message;
  EXPECT_EQ(*prefix, bytes.substr(0, 64));
}

TEST_F(S3StorageTest, ForgedTamperedAndExpiredPresignedUrlsAreRefused) {
  auto client = Client();
  const std::string path = WriteFile(work_, "a.jpg", RandomBytes(4096, 2));
  const S3Client::Object object{.bucket = kBucket, .key = "uploads/a.jpg"};
  auto presigned = client->Presign(
      object,
      {.method = "PUT", .expires = std::chrono::seconds(300), .content_type = "image/jpeg"});
  ASSERT_TRUE(presigned);
  const std::string& url = presigned->url;

  // One hex digit of the signature changed.
  std::string signature = url.substr(url.find("X-Amz-Signature=") + 16, 64);
  signature[10] = signature[10] == 'a' ? 'b' : 'a';
  CurlAnswer forged = CurlUpload(ReplaceQuery(url, "X-Amz-Signature", signature), path,
                                 {"Content-Type: image/jpeg"});
  EXPECT_EQ(forged.status, 403);
  EXPECT_NE(forged.body.find("SignatureDoesNotMatch"), std::string::npos) << forged.body;

  // The signature is right, but for another content type, another key, a longer life.
  EXPECT_EQ(CurlUpload(url, path, {"Content-Type: text/html"}).status, 403);
  std::string other_key = url;
  other_key.replace(other_key.find("/uploads/a.jpg"), 14, "/uploads/b.jpg");
  EXPECT_EQ(CurlUpload(other_key, path, {"Content-Type: image/jpeg"}).status, 403);
  EXPECT_EQ(
      CurlUpload(ReplaceQuery(url, "X-Amz-Expires", "3600"), path, {"Content-Type: image/jpeg"})
          .status,
      403);

  // Signed correctly two hours ago for one minute: expired.
  storage::PresignParams params;
  params.method = "PUT";
  params.url = client->ObjectUrl(object);
  params.now = std::chrono::system_clock::now() - std::chrono::hours(2);
  params.expires = std::chrono::seconds(60);
  auto expired = storage::PresignS3Url(
      params, {.access_key_id = kAccessKey, .secret_access_key = kSecret}, "us-east-1");
  ASSERT_TRUE(expired);
  CurlAnswer late = CurlUpload(*expired, path, {});
  EXPECT_EQ(late.status, 403);
  EXPECT_NE(late.body.find("AccessDenied"), std::string::npos) << late.body;
  // The same URL signed now works: only the time was wrong.
  params.now = std::chrono::system_clock::now();
  auto fresh = storage::PresignS3Url(
      params, {.access_key_id = kAccessKey, .secret_access_key = kSecret}, "us-east-1");
  ASSERT_TRUE(fresh);
  EXPECT_EQ(CurlUpload(*fresh, path, {}).status, 200);
  ASSERT_TRUE(client->DeleteObject(object));

  const std::string stats = Stats();
  EXPECT_EQ(StatCount(stats, "SignatureDoesNotMatch"), 4) << stats;
  EXPECT_EQ(StatCount(stats, "AccessDenied"), 1) << stats;
  auto info = client->HeadObject(object);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, common::ErrorCode::kNotFound);
}

TEST_F(S3StorageTest, PresignedUrlCarriesTheSessionTokenOfTemporaryCredentials) {
  const std::string uri = "http://127.0.0.1:" + std::to_string(stub_->port("creds")) + "/container";
  auto client = Client({{"AWS_ACCESS_KEY_ID", ""},
                        {"AWS_SECRET_ACCESS_KEY", ""},
                        {"AWS_CONTAINER_CREDENTIALS_FULL_URI", uri},
                        {"AWS_CONTAINER_AUTHORIZATION_TOKEN", kContainerToken}});
  const std::string path = WriteFile(work_, "t.png", RandomBytes(2048, 3));
  auto presigned = client->Presign({.bucket = kBucket, .key = "uploads/t.png"},
                                   {.method = "PUT", .expires = std::chrono::seconds(120)});
  ASSERT_TRUE(presigned) << presigned.error().message;
  EXPECT_NE(presigned->url.find("X-Amz-Credential=ASIACONTAINER"), std::string::npos);
  EXPECT_NE(presigned->url.find("X-Amz-Security-Token=token-container-"), std::string::npos);

  // Without its token the temporary key is refused; with it the upload goes through.
  std::string without = presigned->url;
  size_t at = without.find("&X-Amz-Security-Token=");
  without.erase(at, without.find('&', at + 1) - at);
  EXPECT_EQ(CurlUpload(without, path, {}).status, 403);
  EXPECT_EQ(CurlUpload(presigned->url, path, {}).status, 200);
  EXPECT_EQ(StatCount(Stats(), "InvalidToken"), 1) << Stats();
}

TEST_F(S3StorageTest, MultipartUploadWithKmsEncryptionRoundTripsByteExact) {
  auto client = Client();
  // Not a multiple of the part size: the last part is short.
  const std::string bytes = RandomBytes(21 * kMiB + 12345, 4);
  const std::string path = WriteFile(work_, "big.bin", bytes);
  S3Client::PutOptions options;
  options.content_type = "image/tiff";
  options.encryption = {.algorithm = "aws:kms", .kms_key_id = "alias/imgorigin-test"};
  options.multipart_threshold = 8 * kMiB;
  options.part_size = 5 * kMiB;
  const S3Client::Object object{.bucket = kBucket, .key = "originals/big.tif"};
  auto put = client->UploadFile(object, path, options);
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ(put->parts, 5);
  EXPECT_EQ(put->size, static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(put->encryption, "aws:kms");

  const std::string stats = Stats();
  EXPECT_EQ(StatCount(stats, "created"), 1) << stats;
  EXPECT_EQ(StatCount(stats, "parts"), 5) << stats;
  EXPECT_EQ(StatCount(stats, "completed"), 1) << stats;
  EXPECT_EQ(StatCount(stats, "uploadsOpen"), 0) << stats;

  auto info = client->HeadObject(object);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->size, static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(info->content_type, "image/tiff");
  EXPECT_EQ(info->encryption, "aws:kms");
  std::string stored = Download(*client, object.key);
  EXPECT_EQ(stored.size(), bytes.size());
  EXPECT_TRUE(stored == bytes) << "multipart object differs from the file";
}

TEST_F(S3StorageTest, SmallFilesGoUpInOnePutWithAes256) {
  auto client = Client();
  const std::string bytes = RandomBytes(700 * 1024, 5);
  S3Client::PutOptions options;
  options.content_type = "image/webp";
  options.encryption.algorithm = "AES256";
  const S3Client::Object object{.bucket = kBucket, .key = "originals/small.webp"};
  auto put = client->UploadFile(object, WriteFile(work_, "small.webp", bytes), options);
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ(put->parts, 0);
  EXPECT_EQ(put->encryption, "AES256");
  EXPECT_EQ(StatCount(Stats(), "created"), 0);
  auto info = client->HeadObject(object);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->encryption, "AES256");
  EXPECT_EQ(info->content_type, "image/webp");
  EXPECT_TRUE(Download(*client, object.key) == bytes);

  // From memory, and a KMS key id without aws:kms is refused before anything is sent.
  auto direct = client->PutObject({.bucket = kBucket, .key = "originals/direct.bin"}, "hello", {});
  ASSERT_TRUE(direct) << direct.error().message;
  EXPECT_EQ(direct->encryption, "");
  options.encryption = {.algorithm = "AES256", .kms_key_id = "k"};
  auto refused = client->PutObject({.bucket = kBucket, .key = "originals/x.bin"}, "x", options);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, common::ErrorCode::kInvalidArgument);
}

TEST_F(S3StorageTest, FailedMultipartUploadIsAbortedAndLeavesNothing) {
  auto client = Client();
  const std::string path = WriteFile(work_, "fails.bin", RandomBytes(12 * kMiB, 6));
  S3Client::PutOptions options;
  options.multipart_threshold = 5 * kMiB;
  options.part_size = 5 * kMiB;
  options.retry = {.retries = 1, .backoff = std::chrono::milliseconds(10)};
  const S3Client::Object object{.bucket = kBucket, .key = "failpart/fails.bin"};
  auto put = client->UploadFile(object, path, options);
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, common::ErrorCode::kUpstreamFailed);
  EXPECT_NE(put.error().message.find("UploadPart"), std::string::npos) << put.error().message;

  const std::string stats = Stats();
  EXPECT_EQ(StatCount(stats, "created"), 1) << stats;
  EXPECT_EQ(StatCount(stats, "aborted"), 1) << stats;
  EXPECT_EQ(StatCount(stats, "completed"), 0) << stats;
  EXPECT_EQ(StatCount(stats, "uploadsOpen"), 0) << stats;
  auto info = client->HeadObject(object);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, common::ErrorCode::kNotFound);
}

TEST_F(S3StorageTest, HeadRangeAndDeleteOfMissingAndShortObjects) {
  auto client = Client();
  const S3Client::Object missing{.bucket = kBucket, .key = "nothing/here.jpg"};
  auto head = client->HeadObject(missing);
  ASSERT_FALSE(head);
  EXPECT_EQ(head.error().code, common::ErrorCode::kNotFound);
  auto prefix = client->ReadPrefix(missing, 16);
  ASSERT_FALSE(prefix);
  EXPECT_EQ(prefix.error().code, common::ErrorCode::kNotFound);
  EXPECT_TRUE(client->DeleteObject(missing));

  // Shorter than the prefix asked for: all of it.
  auto seed = client->ReadPrefix({.bucket = kBucket, .key = "seed.txt"}, 4096);
  ASSERT_TRUE(seed) << seed.error().message;
  EXPECT_EQ(*seed, "seed");
  ASSERT_TRUE(client->DeleteObject({.bucket = kBucket, .key = "seed.txt"}));
  EXPECT_FALSE(client->HeadObject({.bucket = kBucket, .key = "seed.txt"}));
}

// Every page of `prefix`, `max_keys` at a time (at most 100 pages).
std::vector<S3Client::ListPage> ListAll(const S3Client& client, const std::string& bucket,
                                        const std::string& prefix, int max_keys,
                                        const std::string& start_after = "") {
  std::vector<S3Client::ListPage> pages;
  std::string token;
  do {
    auto page = client.ListObjects(bucket, prefix, token, max_keys, start_after);
    EXPECT_TRUE(page) << page.error().message;
    if (!page) break;
    token = page->next_token;
    pages.push_back(*std::move(page));
  } while (!token.empty() && pages.size() < 100);
  return pages;
}

TEST_F(S3StorageTest, ListPagesGiveEveryKeyOnceInS3Order) {
  auto client = Client();
  // Keys that need escaping in XML and in URLs, and neighbours whose byte order differs from a
  // directory walk's ("ab" < "ab-x", "a.jpg" < "a/b").
  std::vector<std::string> keys = {"list/a b/\xC3\xA9+%.jpg",
                                   "list/x&y<z>.png",
                                   "list/ab",
                                   "list/ab-x",
                                   "list/a.jpg",
                                   "list/a/b",
                                   "list/q'\"uote.gif"};
  for (int i = 0; keys.size() < 25; ++i) keys.push_back("list/n" + std::to_string(i) + ".jpg");
  std::map<std::string, std::pair<int64_t, std::string>> stored;  // key → size, ETag
  const int64_t before = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string body = RandomBytes(100 + i, static_cast<uint32_t>(i));
    auto put = client->PutObject({.bucket = kBucket, .key = keys[i]}, body, {});
    ASSERT_TRUE(put) << keys[i] << ": " << put.error().message;
    stored[keys[i]] = {static_cast<int64_t>(body.size()), put->etag};
  }
  std::sort(keys.begin(), keys.end());  // UTF-8 binary order, as S3 lists

  auto pages = ListAll(*client, kBucket, "list/", 7);
  ASSERT_EQ(pages.size(), 4u);
  std::vector<std::string> listed;
  for (size_t p = 0; p < pages.size(); ++p) {
    EXPECT_EQ(pages[p].objects.size(), p < 3 ? 7u : 4u);
    EXPECT_EQ(pages[p].next_token.empty(), p == 3);
    for (const auto& object : pages[p].objects) {
      listed.push_back(object.key);
      ASSERT_TRUE(stored.contains(object.key)) << object.key;
      EXPECT_EQ(object.size, stored[object.key].first) << object.key;
      EXPECT_EQ(object.etag, stored[object.key].second) << object.key;
      EXPECT_TRUE(object.etag.starts_with('"')) << object.etag;
      EXPECT_GE(object.last_modified, before - 5);
      EXPECT_LE(object.last_modified, before + 120);
    }
  }
  EXPECT_EQ(listed, keys);

  // After a given key, paged too; and a page of 1000 holds them all.
  auto after = ListAll(*client, kBucket, "list/", 10, keys[9]);
  ASSERT_EQ(after.size(), 2u);
  std::vector<std::string> rest;
  for (const auto& page : after) {
    for (const auto& object : page.objects) rest.push_back(object.key);
  }
  EXPECT_EQ(rest, std::vector<std::string>(keys.begin() + 10, keys.end()));
  auto all = ListAll(*client, kBucket, "", 1000);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].objects.size(), keys.size() + 1);  // seed.txt too
  EXPECT_EQ(all[0].next_token, "");
  // A prefix with characters that need encoding.
  auto odd = ListAll(*client, kBucket, "list/a b/", 1000);
  ASSERT_EQ(odd.size(), 1u);
  ASSERT_EQ(odd[0].objects.size(), 1u);
  EXPECT_EQ(odd[0].objects[0].key, "list/a b/\xC3\xA9+%.jpg");
}

TEST_F(S3StorageTest, EmptyListingsMissingBucketsAndBadArguments) {
  auto client = Client();
  for (auto [bucket, prefix] : {std::pair{kBucket, "nothing/"}, std::pair{kEmptyBucket, ""}}) {
    auto page = client->ListObjects(bucket, prefix, "");
    ASSERT_TRUE(page) << page.error().message;
    EXPECT_TRUE(page->objects.empty()) << bucket;
    EXPECT_EQ(page->next_token, "");
  }
  auto missing = client->ListObjects("no-such-bucket", "", "");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, common::ErrorCode::kNotFound) << missing.error().message;
  EXPECT_NE(missing.error().message.find("NoSuchBucket"), std::string::npos)
      << missing.error().message;
  for (int max_keys : {0, -1, 1001}) {
    auto bad = client->ListObjects(kBucket, "", "", max_keys);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, common::ErrorCode::kInvalidArgument);
  }
  EXPECT_FALSE(client->ListObjects("Bad_Bucket/..", "", ""));
}

TEST_F(S3StorageTest, GetObjectToFileStreamsIntoATemporaryFile) {
  auto client = Client();
  const std::string bytes = RandomBytes(20 * kMiB + 7, 11);
  const S3Client::Object object{.bucket = kBucket, .key = "big/original 1.jpg"};
  S3Client::PutOptions put_options;
  put_options.content_type = "image/jpeg";
  ASSERT_TRUE(client->UploadFile(object, WriteFile(work_, "original.jpg", bytes), put_options));
  const std::string dir = work_ + "/downloads";
  fs::create_directories(dir);

  auto got = client->GetObjectToFile(object, {.dir = dir});
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_NE(got->file, nullptr);
  EXPECT_EQ(fs::path(got->file->path()).parent_path(), fs::path(dir));
  EXPECT_EQ(got->file->size(), static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(got->info.size, static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(got->info.content_type, "image/jpeg");
  EXPECT_FALSE(got->info.etag.empty());
  EXPECT_GT(got->info.last_modified, 0);
  EXPECT_TRUE(ReadWhole(got->file->path()) == bytes) << "downloaded file differs";

  // The file goes with the last reference to it.
  const std::string path = got->file->path();
  std::shared_ptr<const storage::SpilledFile> other = got->file;
  got->file.reset();
  EXPECT_TRUE(fs::exists(path));
  other.reset();
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(FilesIn(dir), 0u);

  // An empty object is an empty file.
  ASSERT_TRUE(client->PutObject({.bucket = kBucket, .key = "big/empty"}, "", {}));
  auto empty = client->GetObjectToFile({.bucket = kBucket, .key = "big/empty"}, {.dir = dir});
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_EQ(empty->file->size(), 0);
  EXPECT_TRUE(fs::exists(empty->file->path()));
  EXPECT_EQ(fs::file_size(empty->file->path()), 0u);
}

TEST_F(S3StorageTest, GetObjectToFileFailuresLeaveNoFileBehind) {
  auto client = Client();
  const std::string dir = work_ + "/downloads";
  fs::create_directories(dir);
  auto missing =
      client->GetObjectToFile({.bucket = kBucket, .key = "nothing/here.jpg"}, {.dir = dir});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, common::ErrorCode::kNotFound) << missing.error().message;

  const S3Client::Object object{.bucket = kBucket, .key = "big/two-mib.bin"};
  ASSERT_TRUE(client->PutObject(object, RandomBytes(2 * kMiB, 12), {}));
  auto large = client->GetObjectToFile(object, {.dir = dir, .max_bytes = kMiB});
  ASSERT_FALSE(large);
  EXPECT_EQ(large.error().code, common::ErrorCode::kTooLarge) << large.error().message;
  EXPECT_EQ(FilesIn(dir), 0u);
  auto exact = client->GetObjectToFile(object, {.dir = dir, .max_bytes = 2 * kMiB});
  ASSERT_TRUE(exact) << exact.error().message;
  EXPECT_EQ(exact->file->size(), 2 * kMiB);

  auto nowhere = client->GetObjectToFile(object, {.dir = work_ + "/no/such/dir"});
  ASSERT_FALSE(nowhere);
  EXPECT_EQ(nowhere.error().code, common::ErrorCode::kInternal) << nowhere.error().message;
}

TEST_F(S3StorageTest, UserMetadataRoundTripsThroughPutAndMultipartUploads) {
  auto client = Client();
  const std::map<std::string, std::string> metadata = {{"source-key", "originals/a b+c.jpg"},
                                                       {"source-etag", "\"0123abcd\""},
                                                       {"preset", "w:200 q:80  (webp)"}};
  S3Client::PutOptions options;
  options.metadata.assign(metadata.begin(), metadata.end());

  const S3Client::Object small{.bucket = kBucket, .key = "out/small.webp"};
  ASSERT_TRUE(client->PutObject(small, "small", options));
  auto head = client->HeadObject(small);
  ASSERT_TRUE(head) << head.error().message;
  EXPECT_EQ(head->metadata, metadata);
  auto got = client->GetObjectToFile(small, {.dir = work_});
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->info.metadata, metadata);
  EXPECT_EQ(ReadWhole(got->file->path()), "small");

  options.multipart_threshold = 5 * kMiB;
  options.part_size = 5 * kMiB;
  const S3Client::Object big{.bucket = kBucket, .key = "out/big.tif"};
  auto put =
      client->UploadFile(big, WriteFile(work_, "big.tif", RandomBytes(6 * kMiB, 13)), options);
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ(put->parts, 2);
  head = client->HeadObject(big);
  ASSERT_TRUE(head) << head.error().message;
  EXPECT_EQ(head->metadata, metadata);
  got = client->GetObjectToFile(big, {.dir = work_});
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->info.metadata, metadata);

  // Without metadata there is none.
  ASSERT_TRUE(client->PutObject({.bucket = kBucket, .key = "out/plain"}, "p", {}));
  head = client->HeadObject({.bucket = kBucket, .key = "out/plain"});
  ASSERT_TRUE(head);
  EXPECT_TRUE(head->metadata.empty());
}

TEST_F(S3StorageTest, InvalidMetadataIsRefusedBeforeAnythingIsSent) {
  auto client = Client();
  const std::string before = Stats();
  S3Client::PutOptions options;
  options.metadata = {{"Source", "x"}};
  auto put = client->PutObject({.bucket = kBucket, .key = "out/x"}, "x", options);
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, common::ErrorCode::kInvalidArgument);
  options.metadata = {{"source", "line\r\nX-Injected: 1"}};
  auto upload =
      client->UploadFile({.bucket = kBucket, .key = "out/y"}, WriteFile(work_, "y", "y"), options);
  ASSERT_FALSE(upload);
  EXPECT_EQ(upload.error().code, common::ErrorCode::kInvalidArgument);
  options.metadata = {{"a", std::string(3000, 'x')}};
  options.multipart_threshold = 0;
  upload =
      client->UploadFile({.bucket = kBucket, .key = "out/z"}, WriteFile(work_, "z", "z"), options);
  ASSERT_FALSE(upload);
  EXPECT_EQ(upload.error().code, common::ErrorCode::kInvalidArgument);
  EXPECT_EQ(StatCount(Stats(), "media/out/x"), 0);
  EXPECT_EQ(StatCount(Stats(), "created"), 0);
  EXPECT_EQ(Stats(), before);
}

}  // namespace
}  // namespace imgorigin::testing
