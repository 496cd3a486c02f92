#include <gtest/gtest.h>

#include "cache/key.h"

namespace imgorigin::cache {
namespace {

TEST(VariantKeyCachebusterTest, EachCachebusterHasItsOwnKey) {
  const auto none = VariantKey("s3://shop/42.jpg", 0, "w:300", "webp");
  const auto one = VariantKey("s3://shop/42.jpg", 0, "w:300", "webp", "1");
  const auto two = VariantKey("s3://shop/42.jpg", 0, "w:300", "webp", "2");
  EXPECT_NE(one, none);
  EXPECT_NE(two, none);
  EXPECT_NE(one, two);
  EXPECT_EQ(VariantKey("s3://shop/42.jpg", 0, "w:300", "webp", "1"), one);
}

// Keys made before cachebusters counted stay valid for URLs without one (the digest is the one
// computed before the cachebuster parameter existed).
TEST(VariantKeyCachebusterTest, NoCachebusterKeepsTheKeyItHad) {
  EXPECT_EQ(VariantKey("s3://shop/42.jpg", 0, "rs:fill:300:300/q:80", "webp", ""),
            VariantKey("s3://shop/42.jpg", 0, "rs:fill:300:300/q:80", "webp"));
  EXPECT_EQ(VariantKey("s3://shop/42.jpg", 0, "rs:fill:300:300/q:80", "webp"),
            "a67c98829ed2b43daa0be3f45b5ee88bc99dd88df42a019250155646cc98d31b");
}

TEST(VariantKeyCachebusterTest, FieldBoundariesAreUnambiguous) {
  EXPECT_NE(VariantKey("s", 0, "x", "webp", "1"), VariantKey("s", 0, "x", "webp1", ""));
  EXPECT_NE(VariantKey("s", 0, "x", "", "webp"), VariantKey("s", 0, "x", "webp", ""));
}

}  // namespace
}  // namespace imgorigin::cache
