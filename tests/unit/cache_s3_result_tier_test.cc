#include <gtest/gtest.h>

#include "cache/s3_result_tier.h"

namespace imgorigin::cache {
namespace {

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
}  // namespace imgorigin::cache
