// Pure pieces of the network sources: the address guard, URL encoding, s3:// parsing, the AWS
// credential formats and the source settings.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include "origin/aws_credentials.h"
#include "origin/config.h"
#include "origin/curl_client.h"
#include "origin/http_source.h"
#include "origin/s3_result_tier.h"
#include "origin/s3_source.h"

namespace imgorigin::origin {
namespace {

std::array<uint8_t, 16> Addr(const char* text) {
  sockaddr_storage storage{};
  if (inet_pton(AF_INET, text, &reinterpret_cast<sockaddr_in*>(&storage)->sin_addr) == 1) {
    storage.ss_family = AF_INET;
  } else {
    EXPECT_EQ(inet_pton(AF_INET6, text, &reinterpret_cast<sockaddr_in6*>(&storage)->sin6_addr), 1)
        << text;
    storage.ss_family = AF_INET6;
  }
  return *AddressBytes(reinterpret_cast<sockaddr*>(&storage));
}

TEST(AddressGuard, BlocksNonPublicRanges) {
  for (const char* blocked :
       {"127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
        "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "198.18.0.1",
        "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1", "::ffff:127.0.0.1",
        "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::127.0.0.1", "64:ff9b::7f00:1",
        "2002:7f00:1::1"}) {
    EXPECT_TRUE(IsNonPublicAddress(Addr(blocked))) << blocked;
  }
  for (const char* allowed : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111",
                              "::ffff:8.8.8.8", "64:ff9b::808:808"}) {
    EXPECT_FALSE(IsNonPublicAddress(Addr(allowed))) << allowed;
  }
}

TEST(AddressGuard, PolicyExemptions) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.2", &in.sin_addr);
  auto* sa = reinterpret_cast<sockaddr*>(&in);
  EXPECT_FALSE(AddressPolicy{}.Allows(sa));
  EXPECT_TRUE(AddressPolicy{.allow_private = true}.Allows(sa));
  EXPECT_TRUE(AddressPolicy{.allowed = {*Cidr::Parse("127.0.0.2/32")}}.Allows(sa));
  EXPECT_FALSE(AddressPolicy{.allowed = {*Cidr::Parse("127.0.0.1/32")}}.Allows(sa));
  EXPECT_TRUE(AddressPolicy{.allowed = {*Cidr::Parse("127.0.0.0/8")}}.Allows(sa));
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/33"));
  EXPECT_FALSE(Cidr::Parse("example.com"));
  EXPECT_TRUE(Cidr::Parse("fd00::/8"));
}

TEST(UriEncode, KeepsUnreservedAndOptionallySlash) {
  EXPECT_EQ(UriEncode("a b+c%d#e/ü~.-_", true), "a%20b%2Bc%25d%23e/%C3%BC~.-_");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
}

TEST(S3Url, KeysAreLiteralAndOnlyATrailingVersionIdIsSplit) {
  auto l = S3Source::ParseUrl("s3://bucket/dir/a b+c%d#e?.jpg");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->bucket, "bucket");
  EXPECT_EQ(l->key, "dir/a b+c%d#e?.jpg");
  EXPECT_EQ(l->version_id, "");
  auto v = S3Source::ParseUrl("s3://bucket/k.jpg?versionId=3HL4kqtJ.lt");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->key, "k.jpg");
  EXPECT_EQ(v->version_id, "3HL4kqtJ.lt");
  EXPECT_FALSE(S3Source::ParseUrl("s3://bucket/"));
  EXPECT_FALSE(S3Source::ParseUrl("s3://Bad_Bucket!/k"));
  EXPECT_FALSE(S3Source::ParseUrl("s3://bucket/k?versionId="));
}

TEST(S3Url, AddressingStyles) {
  auto env = [](std::string_view name) -> std::optional<std::string> {
    if (name == "AWS_REGION") return "eu-west-1";
    return std::nullopt;
  };
  FetchConfig fetch;
  auto virtual_hosted = S3Source::Create({.enabled = true}, fetch, 1 << 20, env);
  ASSERT_TRUE(virtual_hosted);
  EXPECT_EQ((*virtual_hosted)->ObjectUrl({"shop", "a b/ü.jpg", ""}),
            "https://shop.s3.eu-west-1.amazonaws.com/a%20b/%C3%BC.jpg");
  // Dotted buckets cannot use the wildcard certificate: path style.
  EXPECT_EQ((*virtual_hosted)->ObjectUrl({"my.shop", "k", "v 1"}),
            "https://s3.eu-west-1.amazonaws.com/my.shop/k?versionId=v%201");
  auto custom = S3Source::Create({.enabled = true, .endpoint = "http://127.0.0.1:9000/",
                                  .path_style = true},
                                 fetch, 1 << 20, env);
  ASSERT_TRUE(custom);
  EXPECT_EQ((*custom)->ObjectUrl({"shop", "k+1.jpg", ""}), "http://127.0.0.1:9000/shop/k%2B1.jpg");
  auto from_env = S3Source::Create({.enabled = true}, fetch, 1 << 20,
                                   [](std::string_view name) -> std::optional<std::string> {
                                     if (name == "AWS_ENDPOINT_URL") return "http://minio:9000";
                                     if (name == "AWS_ENDPOINT_URL_S3") return "http://s3only:9000";
                                     return std::nullopt;
                                   });
  ASSERT_TRUE(from_env);
  EXPECT_EQ((*from_env)->endpoint(), "http://s3only:9000");
  EXPECT_EQ((*from_env)->region(), "us-east-1");
}

TEST(AwsCredentials, ProfileFile) {
  const char* file =
      "# comment\n[default]\naws_access_key_id = AKID1\naws_secret_access_key = S1\n\n"
      "[prod]\n aws_access_key_id=AKID2 \naws_secret_access_key=S2\naws_session_token = T2\n"
      "[broken]\naws_access_key_id = AKID3\n";
  auto d = ParseCredentialsFile(file, "default");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->access_key_id, "AKID1");
  EXPECT_EQ(d->secret_access_key, "S1");
  auto p = ParseCredentialsFile(file, "prod");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->access_key_id, "AKID2");
  EXPECT_EQ(p->session_token, "T2");
  EXPECT_FALSE(ParseCredentialsFile(file, "broken"));
  EXPECT_FALSE(ParseCredentialsFile(file, "missing"));
}

TEST(AwsCredentials, JsonAndExpiry) {
  auto c = ParseCredentialsJson(
      R"({"AccessKeyId":"ASIA1","SecretAccessKey":"S","Token":"T","Expiration":"2030-01-02T03:04:05Z"})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->session_token, "T");
  ASSERT_TRUE(c->expiration);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*c->expiration), 1893553445);
  EXPECT_EQ(ParseIso8601("2030-01-02T04:04:05.123+01:00"), c->expiration);
  EXPECT_FALSE(ParseCredentialsJson("not json"));
  EXPECT_FALSE(ParseCredentialsJson(R"({"AccessKeyId":"A"})"));
}

TEST(HttpUrl, NormalizesWhatCannotTravel) {
  EXPECT_EQ(NormalizeHttpUrl("https://h/a b/ü.jpg?x=1#frag"), "https://h/a%20b/%C3%BC.jpg?x=1");
  EXPECT_EQ(NormalizeHttpUrl("https://h/a%20b\"<>.jpg"), "https://h/a%20b%22%3C%3E.jpg");
}

TEST(SourceSettings, FromEnvironmentAndValidated) {
  std::map<std::string, std::string> vars = {
      {"IMGORIGIN_ALLOW_UNSIGNED", "true"},
      {"IMGORIGIN_S3_ENABLED", "true"},
      {"IMGORIGIN_S3_ALLOWED_BUCKETS", "a-bucket, other.bucket"},
      {"IMGORIGIN_S3_PATH_STYLE", "yes"},
      {"IMGORIGIN_HTTP_ALLOWED_PREFIXES", "https://img.example.com/"},
      {"IMGORIGIN_HTTP_ALLOWED_NETWORKS", "10.1.0.0/16"},
      {"IMGORIGIN_SOURCE_TIMEOUT_MS", "5000"},
      {"IMGORIGIN_STREAM_TO_FILE_BYTES", "32MiB"},
      {"IMGORIGIN_SOURCE_CACHE_MEMORY_SIZE", "1GiB"},
      {"IMGORIGIN_IO_THREADS", "24"},
  };
  auto env = [&vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    return it == vars.end() ? std::nullopt : std::optional(it->second);
  };
  auto config = LoadConfig("", env);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->s3.enabled);
  EXPECT_TRUE(config->s3.path_style);
  EXPECT_EQ(config->s3.allowed_buckets, (std::vector<std::string>{"a-bucket", "other.bucket"}));
  EXPECT_EQ(config->http.allowed_networks.size(), 1u);
  EXPECT_EQ(config->fetch.timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(config->fetch.stream_to_file_bytes, 32 << 20);
  EXPECT_EQ(config->source_cache.memory_bytes, size_t{1} << 30);
  EXPECT_EQ(config->io_threads, 24u);

  vars["IMGORIGIN_HTTP_ALLOWED_PREFIXES"] = "https://img.example.com";  // no "/" after the host
  EXPECT_FALSE(LoadConfig("", env));
  vars["IMGORIGIN_HTTP_ALLOWED_PREFIXES"] = "https://img.example.com/";
  vars["IMGORIGIN_HTTP_ALLOWED_NETWORKS"] = "10.0.0.0/40";
  EXPECT_FALSE(LoadConfig("", env));
}

TEST(S3ResultTier, ObjectLayoutAndSettings) {
  auto env = [](std::string_view name) -> std::optional<std::string> {
    if (name == "AWS_REGION") return "eu-central-1";
    return std::nullopt;
  };
  auto tier = S3ResultTier::Create({.bucket = "results", .prefix = "cache/v1/"},
                                   {.endpoint = "http://127.0.0.1:9000", .path_style = true}, env);
  ASSERT_TRUE(tier) << tier.error().message;
  const std::string key = "3f" + std::string(62, 'a');
  EXPECT_EQ((*tier)->name(), "s3");
  EXPECT_EQ((*tier)->ObjectKey(key), "cache/v1/3f/" + key);
  EXPECT_EQ((*tier)->client().region(), "eu-central-1");
  EXPECT_EQ((*tier)->client().ObjectUrl({"results", (*tier)->ObjectKey(key), ""}),
            "http://127.0.0.1:9000/results/cache/v1/3f/" + key);

  EXPECT_TRUE(S3ResultTier::Config{}.Validate());  // no bucket: the tier is off
  EXPECT_EQ(S3ResultTier::Config{}.prefix, "imgorigin/");
  EXPECT_FALSE(S3ResultTier::Config{.bucket = "Results!"}.Validate());
  EXPECT_FALSE((S3ResultTier::Config{.bucket = "results", .prefix = "/abs/"}.Validate()));
  EXPECT_FALSE((S3ResultTier::Config{.bucket = "results", .endpoint = "minio:9000"}.Validate()));
  EXPECT_FALSE(S3ResultTier::Create({}, {}, env));
}

}  // namespace
}  // namespace imgorigin::origin
