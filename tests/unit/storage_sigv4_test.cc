// SigV4 against AWS's published examples (a presigned GET, a header-signed GET), and the rules
// around them: expiry bounds, session tokens, signed headers and their order, addressing forms
// and existing query parameters.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "storage/digest.h"
#include "storage/s3_client.h"
#include "storage/sigv4.h"

namespace imgorigin::storage {
namespace {

using namespace std::chrono;

const AwsCredentials kExampleCredentials = {
    .access_key_id = "AKIAIOSFODNN7EXAMPLE",
    .secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};

// 2013-05-24T00:00:00Z, the signing time of AWS's example.
const system_clock::time_point kExampleTime = sys_days{year{2013} / May / 24};

PresignParams Example() {
  PresignParams params;
  params.method = "GET";
  params.url = "https://examplebucket.s3.amazonaws.com/test.txt";
  params.expires = seconds(86400);
  params.now = kExampleTime;
  return params;
}

// The value of query parameter `name` in `url` (as written, still encoded).
std::optional<std::string> Query(const std::string& url, const std::string& name) {
  size_t q = url.find('?');
  if (q == std::string::npos) return std::nullopt;
  std::string query = "&" + url.substr(q + 1) + "&";
  size_t at = query.find("&" + name + "=");
  if (at == std::string::npos) return std::nullopt;
  size_t start = at + name.size() + 2;
  return query.substr(start, query.find('&', start) - start);
}

// S3 documentation, "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)",
// the example: GET examplebucket/test.txt valid for 24 hours.
TEST(S3Presign, AwsPublishedExample) {
  auto url = PresignS3Url(Example(), kExampleCredentials, "us-east-1");
  ASSERT_TRUE(url) << url.error().message;
  EXPECT_EQ(*url,
            "https://examplebucket.s3.amazonaws.com/test.txt"
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST(S3Presign, ExpiryIsBoundedToOneSecondToSevenDays) {
  for (seconds expires : {seconds(0), seconds(-5), seconds(604801)}) {
    PresignParams params = Example();
    params.expires = expires;
    auto url = PresignS3Url(params, kExampleCredentials, "us-east-1");
    ASSERT_FALSE(url) << expires.count();
    EXPECT_EQ(url.error().code, common::ErrorCode::kInvalidArgument);
  }
  for (seconds expires : {seconds(1), seconds(604800)}) {
    PresignParams params = Example();
    params.expires = expires;
    auto url = PresignS3Url(params, kExampleCredentials, "us-east-1");
    ASSERT_TRUE(url) << expires.count();
    EXPECT_EQ(Query(*url, "X-Amz-Expires"), std::to_string(expires.count()));
  }
}

TEST(S3Presign, SessionTokenIsSignedInTheQuery) {
  AwsCredentials temporary = kExampleCredentials;
  temporary.session_token = "FwoGZXIvYXdzE/token+with=chars";
  auto with = PresignS3Url(Example(), temporary, "us-east-1");
  auto without = PresignS3Url(Example(), kExampleCredentials, "us-east-1");
  ASSERT_TRUE(with && without);
  EXPECT_EQ(Query(*with, "X-Amz-Security-Token"), "FwoGZXIvYXdzE%2Ftoken%2Bwith%3Dchars");
  EXPECT_NE(Query(*with, "X-Amz-Signature"), Query(*without, "X-Amz-Signature"));
  // Canonical (sorted) position: between X-Amz-Expires and X-Amz-SignedHeaders.
  EXPECT_LT(with->find("X-Amz-Expires="), with->find("X-Amz-Security-Token="));
  EXPECT_LT(with->find("X-Amz-Security-Token="), with->find("X-Amz-SignedHeaders="));
}

TEST(S3Presign, ListedHeadersAreSigned) {
  PresignParams params = Example();
  params.method = "PUT";
  params.headers = {{"Content-Type", "image/jpeg"}, {"x-amz-server-side-encryption", "aws:kms"}};
  auto typed = PresignS3Url(params, kExampleCredentials, "us-east-1");
  ASSERT_TRUE(typed) << typed.error().message;
  EXPECT_EQ(Query(*typed, "X-Amz-SignedHeaders"),
            "content-type%3Bhost%3Bx-amz-server-side-encryption");
  params.headers[0].second = "image/png";
  auto other = PresignS3Url(params, kExampleCredentials, "us-east-1");
  ASSERT_TRUE(other);
  EXPECT_NE(Query(*typed, "X-Amz-Signature"), Query(*other, "X-Amz-Signature"));
}

TEST(S3Presign, RefusesWhatCannotBeSigned) {
  auto refused = [](PresignParams params) {
    auto url = PresignS3Url(params, kExampleCredentials, "us-east-1");
    return !url && url.error().code == common::ErrorCode::kInvalidArgument;
  };
  PresignParams params = Example();
  params.method = "POST";
  EXPECT_TRUE(refused(params));
  params = Example();
  params.headers = {{"Host", "evil.example"}};
  EXPECT_TRUE(refused(params));
  params.headers = {{"Content-Type", "a"}, {"content-type", "b"}};
  EXPECT_TRUE(refused(params));
  params.headers = {{"Content-Type", "a\r\nX-Injected: 1"}};
  EXPECT_TRUE(refused(params));
  params = Example();
  params.url = "examplebucket/test.txt";
  EXPECT_TRUE(refused(params));
  EXPECT_FALSE(PresignS3Url(Example(), AwsCredentials{}, "us-east-1"));
}

TEST(S3Presign, DefaultPortIsNotPartOfTheSignedHost) {
  PresignParams params = Example();
  params.url = "https://examplebucket.s3.amazonaws.com:443/test.txt";
  auto url = PresignS3Url(params, kExampleCredentials, "us-east-1");
  ASSERT_TRUE(url);
  EXPECT_EQ(Query(*url, "X-Amz-Signature"),
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
  // Any other port is part of Host, hence of the signature.
  params.url = "https://examplebucket.s3.amazonaws.com:8443/test.txt";
  url = PresignS3Url(params, kExampleCredentials, "us-east-1");
  ASSERT_TRUE(url);
  EXPECT_NE(Query(*url, "X-Amz-Signature"),
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST(S3Presign, ExistingQueryParametersJoinTheCanonicalQuery) {
  PresignParams params = Example();
  params.url = "https://examplebucket.s3.amazonaws.com/test.txt?versionId=3%2Fabc";
  auto url = PresignS3Url(params, kExampleCredentials, "us-east-1");
  ASSERT_TRUE(url);
  // Sorted by byte: upper-case X-Amz-* before versionId; the signature comes last.
  EXPECT_NE(url->find("&X-Amz-SignedHeaders=host&versionId=3%2Fabc&X-Amz-Signature="),
            std::string::npos)
      << *url;
  EXPECT_NE(Query(*url, "X-Amz-Signature"),
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

// S3 documentation, "Signature Calculations for the Authorization Header: Transferring Payload
// in a Single Chunk", example GET Object: the first 10 bytes of examplebucket/test.txt.
TEST(S3SignRequest, AwsPublishedGetObjectExample) {
  std::vector<std::string> headers = {"Range: bytes=0-9"};
  ASSERT_TRUE(SignS3Request("GET", "https://examplebucket.s3.amazonaws.com/test.txt", headers,
                            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                            kExampleCredentials, "us-east-1", kExampleTime));
  ASSERT_EQ(headers.size(), 4u);
  EXPECT_EQ(headers[1], "X-Amz-Date: 20130524T000000Z");
  EXPECT_EQ(headers[2],
            "x-amz-content-sha256: "
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(headers[3],
            "Authorization: AWS4-HMAC-SHA256 "
            "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

std::string SignedHeadersOf(const std::vector<std::string>& headers) {
  const std::string& auth = headers.back();
  size_t at = auth.find("SignedHeaders=") + 14;
  return auth.substr(at, auth.find(',', at) - at);
}

// A name that is a prefix of another sorts first, whatever the values: libcurl 7.88 sorted whole
// "name:value" lines and put the KMS key id first, which S3 refuses.
TEST(S3SignRequest, SortsSignedHeadersByNameOnly) {
  std::vector<std::string> headers = {"x-amz-server-side-encryption-aws-kms-key-id: alias/k",
                                      "x-amz-server-side-encryption: aws:kms",
                                      "Content-Type: image/jpeg"};
  ASSERT_TRUE(SignS3Request("POST", "http://127.0.0.1:9000/b/k?uploads=", headers, "UNSIGNED",
                            kExampleCredentials, "us-east-1", kExampleTime));
  EXPECT_EQ(SignedHeadersOf(headers),
            "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-server-side-encryption;"
            "x-amz-server-side-encryption-aws-kms-key-id");
}

TEST(S3SignRequest, TemporaryCredentialsSignTheirToken) {
  AwsCredentials temporary = kExampleCredentials;
  temporary.session_token = "token/1";
  std::vector<std::string> headers;
  ASSERT_TRUE(SignS3Request("GET", "https://examplebucket.s3.amazonaws.com/test.txt", headers,
                            "e3b0", temporary, "us-east-1", kExampleTime));
  EXPECT_NE(std::find(headers.begin(), headers.end(), "X-Amz-Security-Token: token/1"),
            headers.end());
  EXPECT_EQ(SignedHeadersOf(headers), "host;x-amz-content-sha256;x-amz-date;x-amz-security-token");
}

TEST(S3SignRequest, QueryOrderDoesNotChangeTheSignature) {
  std::vector<std::string> a;
  std::vector<std::string> b;
  ASSERT_TRUE(SignS3Request("PUT", "http://h/b/k?uploadId=x&partNumber=2", a, "e3b0",
                            kExampleCredentials, "us-east-1", kExampleTime));
  ASSERT_TRUE(SignS3Request("PUT", "http://h/b/k?partNumber=2&uploadId=x", b, "e3b0",
                            kExampleCredentials, "us-east-1", kExampleTime));
  EXPECT_EQ(a.back(), b.back());
}

TEST(S3SignRequest, RefusesHeadersThatCannotBeSigned) {
  for (std::vector<std::string> headers : std::vector<std::vector<std::string>>{
           {"no colon here"}, {"Host: other"}, {"A: 1", "a: 2"}, {"Bad Name: x"}}) {
    auto signed_request = SignS3Request("GET", "http://h/b/k", headers, "e3b0", kExampleCredentials,
                                        "us-east-1", kExampleTime);
    ASSERT_FALSE(signed_request) << headers[0];
    EXPECT_EQ(signed_request.error().code, common::ErrorCode::kInvalidArgument);
  }
}

// Other services: AWS's SigV4 test suite credentials and time (AKIDEXAMPLE, 2015-08-30T12:36:00Z).
const AwsCredentials kSuiteCredentials = {
    .access_key_id = "AKIDEXAMPLE",
    .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};
const system_clock::time_point kSuiteTime = sys_days{year{2015} / August / 30} + hours(12) +
                                            minutes(36);
constexpr char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// The suite's "get-vanilla" case: service "service", nothing signed but Host and X-Amz-Date.
TEST(AwsSignRequest, AwsSuiteGetVanilla) {
  std::vector<std::string> headers;
  ASSERT_TRUE(SignAwsRequest("service", "GET", "https://example.amazonaws.com/", headers,
                             kEmptySha256, kSuiteCredentials, "us-east-1", kSuiteTime));
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[0], "X-Amz-Date: 20150830T123600Z");
  EXPECT_EQ(headers[1],
            "Authorization: AWS4-HMAC-SHA256 "
            "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

// An SQS JSON-protocol call, the signature computed by AWS's own JavaScript signer
// (@smithy/signature-v4) over the same request: the scope names "sqs", the body's hash and the
// X-Amz-Target header are signed, and no x-amz-content-sha256 header is added.
TEST(AwsSignRequest, SqsJsonCallMatchesAwsJavaScriptSigner) {
  const std::string body = R"({"QueueName":"jobs"})";
  std::vector<std::string> headers = {"Content-Type: application/x-amz-json-1.0",
                                      "X-Amz-Target: AmazonSQS.GetQueueUrl"};
  ASSERT_TRUE(SignAwsRequest("sqs", "POST", "https://sqs.us-east-1.amazonaws.com/", headers,
                             Sha256Hex(body), kSuiteCredentials, "us-east-1", kSuiteTime));
  EXPECT_EQ(headers.back(),
            "Authorization: AWS4-HMAC-SHA256 "
            "Credential=AKIDEXAMPLE/20150830/us-east-1/sqs/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
            "Signature=3ceedba4cf17a1b60f796dc117d7b7c92128ac86347d58a0a0218713ab3910de");
}

TEST(AwsSignRequest, NeedsAServiceRegionAndKeys) {
  std::vector<std::string> headers;
  for (auto [service, region] : {std::pair{"", "us-east-1"}, std::pair{"sqs", ""}}) {
    auto signed_request = SignAwsRequest(service, "GET", "https://h/", headers, kEmptySha256,
                                         kSuiteCredentials, region, kSuiteTime);
    ASSERT_FALSE(signed_request);
    EXPECT_EQ(signed_request.error().code, common::ErrorCode::kInvalidArgument);
  }
  EXPECT_FALSE(SignAwsRequest("sqs", "GET", "https://h/", headers, kEmptySha256, AwsCredentials{},
                              "us-east-1", kSuiteTime));
}

std::unique_ptr<S3Client> Client(bool path_style, std::map<std::string, std::string> env) {
  auto client = S3Client::Create(
      {.region = "eu-west-1", .endpoint = "http://127.0.0.1:9000", .path_style = path_style},
      [env](std::string_view name) -> std::optional<std::string> {
        auto it = env.find(std::string(name));
        if (it == env.end()) return std::nullopt;
        return it->second;
      });
  EXPECT_TRUE(client);
  return client ? *std::move(client) : nullptr;
}

const std::map<std::string, std::string> kEnvKeys = {
    {"AWS_ACCESS_KEY_ID", "AKIDTEST"},      {"AWS_SECRET_ACCESS_KEY", "secret"},
    {"AWS_SESSION_TOKEN", "session-token"}, {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"},
    {"AWS_EC2_METADATA_DISABLED", "true"},
};

TEST(S3ClientPresign, AddressesTheObjectAndListsTheHeadersToSend) {
  auto client = Client(/*path_style=*/true, kEnvKeys);
  ASSERT_TRUE(client);
  auto before = system_clock::now();
  auto presigned =
      client->Presign({.bucket = "uploads", .key = "in/a b+c.jpg"},
                      {.method = "PUT",
                       .expires = seconds(600),
                       .content_type = "image/jpeg",
                       .encryption = {.algorithm = "aws:kms", .kms_key_id = "alias/imgorigin"}});
  ASSERT_TRUE(presigned) << presigned.error().message;
  EXPECT_TRUE(presigned->url.starts_with("http://127.0.0.1:9000/uploads/in/a%20b%2Bc.jpg?"))
      << presigned->url;
  EXPECT_EQ(Query(presigned->url, "X-Amz-Security-Token"), "session-token");
  EXPECT_EQ(Query(presigned->url, "X-Amz-Credential").value_or("").substr(0, 10), "AKIDTEST%2");
  EXPECT_NE(presigned->url.find("%2Feu-west-1%2Fs3%2Faws4_request"), std::string::npos);
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Type", "image/jpeg"},
      {"x-amz-server-side-encryption", "aws:kms"},
      {"x-amz-server-side-encryption-aws-kms-key-id", "alias/imgorigin"}};
  EXPECT_EQ(presigned->headers, headers);
  EXPECT_GE(presigned->expires_at, before + seconds(600));
  EXPECT_LE(presigned->expires_at, system_clock::now() + seconds(600));

  auto virtual_host = Client(/*path_style=*/false, kEnvKeys);
  auto get = virtual_host->Presign({.bucket = "uploads", .key = "k"}, {.method = "GET"});
  ASSERT_TRUE(get);
  EXPECT_TRUE(get->url.starts_with("http://uploads.127.0.0.1:9000/k?")) << get->url;
  EXPECT_TRUE(get->headers.empty());
}

TEST(S3ClientPresign, RefusesBadOptionsAndMissingCredentials) {
  auto client = Client(true, kEnvKeys);
  ASSERT_TRUE(client);
  EXPECT_FALSE(client->Presign({.bucket = "uploads", .key = "k"}, {.expires = seconds(0)}));
  EXPECT_FALSE(
      client->Presign({.bucket = "uploads", .key = "k"}, {.expires = seconds(8 * 24 * 3600)}));
  EXPECT_FALSE(client->Presign({.bucket = "Bad_Bucket!", .key = "k"}, {}));
  EXPECT_FALSE(client->Presign({.bucket = "uploads", .key = ""}, {}));
  EXPECT_FALSE(
      client->Presign({.bucket = "uploads", .key = "k", .version_id = "v1"}, {.method = "PUT"}));
  EXPECT_FALSE(
      client->Presign({.bucket = "uploads", .key = "k"}, {.encryption = {.algorithm = "rot13"}}));

  auto anonymous = Client(true, {{"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"},
                                 {"AWS_EC2_METADATA_DISABLED", "true"}});
  auto refused = anonymous->Presign({.bucket = "uploads", .key = "k"}, {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, common::ErrorCode::kUpstreamFailed);
}

}  // namespace
}  // namespace imgorigin::storage
