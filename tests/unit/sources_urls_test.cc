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

TEST(HttpUrl, NormalizesWhatCannotTravel) {
  EXPECT_EQ(NormalizeHttpUrl("https://h/a b/ü.jpg?x=1#frag"), "https://h/a%20b/%C3%BC.jpg?x=1");
  EXPECT_EQ(NormalizeHttpUrl("https://h/a%20b\"<>.jpg"), "https://h/a%20b%22%3C%3E.jpg");
}

}  // namespace
}  // namespace imgorigin::sources
