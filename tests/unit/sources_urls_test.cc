#include <gtest/gtest.h>

#include "sources/http_source.h"
#include "sources/s3_source.h"

namespace imgorigin::sources {
namespace {

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
  storage::FetchConfig fetch;
  auto virtual_hosted = S3Source::Create({.enabled = true}, fetch, 1 << 20, env);
  ASSERT_TRUE(virtual_hosted);
  EXPECT_EQ((*virtual_hosted)->ObjectUrl({"shop", "a b/ü.jpg", ""}),
            "https://shop.s3.eu-west-1.amazonaws.com/a%20b/%C3%BC.jpg");
  // Dotted buckets cannot use the wildcard certificate: path style.
  EXPECT_EQ((*virtual_hosted)->ObjectUrl({"my.shop", "k", "v 1"}),
            "https://s3.eu-west-1.amazonaws.com/my.shop/k?versionId=v%201");
  auto custom =
      S3Source::Create({.enabled = true, .endpoint = "http://127.0.0.1:9000/", .path_style = true},
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

// A key with dot segments is a key: it goes out (and is signed) as it is, and the first path
// segment of a path-style request stays the bucket that was checked.
TEST(S3Url, DotSegmentsInKeysStayLiteral) {
  auto l = S3Source::ParseUrl("s3://allowed/../other/x.png");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->bucket, "allowed");
  EXPECT_EQ(l->key, "../other/x.png");
  EXPECT_FALSE(S3Source::ParseUrl("s3://../other/x.png"));
  EXPECT_FALSE(S3Source::ParseUrl("s3://a..b/x.png"));
  auto env = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
  storage::FetchConfig fetch;
  auto path_style =
      S3Source::Create({.enabled = true, .endpoint = "http://127.0.0.1:9000", .path_style = true},
                       fetch, 1 << 20, env);
  ASSERT_TRUE(path_style);
  EXPECT_EQ((*path_style)->ObjectUrl({"allowed", "../other/x.png", ""}),
            "http://127.0.0.1:9000/allowed/../other/x.png");
  EXPECT_EQ((*path_style)->ObjectUrl({"media", "dir/./a/../photo..jpg", ""}),
            "http://127.0.0.1:9000/media/dir/./a/../photo..jpg");
  auto virtual_hosted = S3Source::Create({.enabled = true}, fetch, 1 << 20, env);
  ASSERT_TRUE(virtual_hosted);
  EXPECT_EQ((*virtual_hosted)->ObjectUrl({"allowed", "../other/x.png", ""}),
            "https://allowed.s3.us-east-1.amazonaws.com/../other/x.png");
}

TEST(HttpUrl, DotSegmentsInEverySpellingAServerMayResolve) {
  for (const char* url :
       {"http://h/img/../x.jpg", "http://h/img/./x.jpg", "http://h/img/..", "http://h/..",
        "http://h/img/%2e%2e/x.jpg", "http://h/img/%2E%2e/x.jpg", "http://h/img/.%2E/x.jpg",
        "http://h/img/%2e/x.jpg", "http://h/img/..%2fx.jpg", "http://h/img/..%2Fx.jpg",
        "http://h/img/%2e%2e%2fx.jpg", "http://h/img/..\\x.jpg", "http://h/img/..%5cx.jpg",
        "http://h/img/..;/x.jpg", "http://h/img/..;a=b/x.jpg", "http://h/img/%252e%252e/x.jpg",
        "http://h/img/%25252e%25252E/x.jpg", "https://h:8443/img/../x.jpg?a=b"}) {
    EXPECT_TRUE(HasDotSegment(url)) << url;
  }
  for (const char* url :
       {"http://h/img/x.jpg", "http://h/img/photo..jpg", "http://h/img/.../x.jpg",
        "http://h/img/.hidden/x.jpg", "http://h/img/a..b/x.jpg", "http://h/img/%2e%2e%2e/x.jpg",
        "http://h/img/x.jpg?next=../y", "http://h/img/x.jpg#/../y", "http://h?/../x",
        "http://h/img/100%/x.jpg", "http://h/img/%2/x.jpg", "http://h"}) {
    EXPECT_FALSE(HasDotSegment(url)) << url;
  }
}

TEST(HttpUrl, AllowedPrefixesMayNotHoldDotSegments) {
  HttpSource::Config config;
  config.allowed_prefixes = {"https://img.example.com/a/"};
  EXPECT_TRUE(config.Validate());
  config.allowed_prefixes = {"https://img.example.com/a/../b/"};
  EXPECT_FALSE(config.Validate());
}

TEST(HttpUrl, NormalizesWhatCannotTravel) {
  EXPECT_EQ(NormalizeHttpUrl("https://h/a b/ü.jpg?x=1#frag"), "https://h/a%20b/%C3%BC.jpg?x=1");
  EXPECT_EQ(NormalizeHttpUrl("https://h/a%20b\"<>.jpg"), "https://h/a%20b%22%3C%3E.jpg");
}

}  // namespace
}  // namespace imgorigin::sources
