#include <gtest/gtest.h>

#include <set>
#include <string>

#include "cache/key.h"

namespace imgorigin::cache {
namespace {

std::string Base() { return VariantKey("s3://shop/42.jpg", 0, "rs:fill:300:300/q:80", "webp"); }

TEST(VariantKeyTest, IsLowercaseHexSha256) {
  const std::string key = Base();
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(VariantKeyTest, IsDeterministic) {
  EXPECT_EQ(Base(), Base());
  EXPECT_EQ(VariantKey("", 0, "", ""), VariantKey("", 0, "", ""));
}

TEST(VariantKeyTest, EveryFieldChangesTheKey) {
  const std::set<std::string> keys = {
      Base(),
      VariantKey("s3://shop/43.jpg", 0, "rs:fill:300:300/q:80", "webp"),
      VariantKey("s3://shop/42.jpg", 1, "rs:fill:300:300/q:80", "webp"),
      VariantKey("s3://shop/42.jpg", 0, "rs:fill:300:300/q:81", "webp"),
      VariantKey("s3://shop/42.jpg", 0, "rs:fill:300:300/q:80", "avif"),
  };
  EXPECT_EQ(keys.size(), 5u);
}

TEST(VariantKeyTest, GenerationUsesAllBits) {
  EXPECT_NE(VariantKey("s", 1ull << 63, "x", "jpeg"), VariantKey("s", 0, "x", "jpeg"));
  EXPECT_NE(VariantKey("s", 1ull << 32, "x", "jpeg"), VariantKey("s", 1, "x", "jpeg"));
}

TEST(VariantKeyTest, FieldBoundariesAreUnambiguous) {
  EXPECT_NE(VariantKey("ab", 0, "c", "webp"), VariantKey("a", 0, "bc", "webp"));
  EXPECT_NE(VariantKey("s", 0, "ab", "c"), VariantKey("s", 0, "a", "bc"));
  EXPECT_NE(VariantKey("s", 0, "", "webp"), VariantKey("s", 0, "webp", ""));
  // A NUL inside a field cannot fake a boundary either.
  EXPECT_NE(VariantKey(std::string("a\0", 2), 0, "b", "c"),
            VariantKey("a", 0, std::string("\0b", 2), "c"));
}

TEST(SourceTagTest, IsPrefixedShortHexOfTheSourceHash) {
  // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
  EXPECT_EQ(SourceTag("abc"), "s-ba7816bf8f01cfea");
  const std::string tag = SourceTag("s3://shop/products/42 (1).jpg?x=\"y\"");
  EXPECT_EQ(tag.size(), 18u);
  EXPECT_EQ(tag.find_first_not_of("0123456789abcdef", 2), std::string::npos);
}

TEST(SourceTagTest, DiffersBetweenSourcesAndIgnoresVariants) {
  EXPECT_EQ(SourceTag("s3://shop/42.jpg"), SourceTag("s3://shop/42.jpg"));
  EXPECT_NE(SourceTag("s3://shop/42.jpg"), SourceTag("s3://shop/43.jpg"));
}

}  // namespace
}  // namespace imgorigin::cache
