#include <gtest/gtest.h>

#include <string>

#include "cache/entry_codec.h"
#include "cache/key.h"

namespace imgorigin::cache {
namespace {

const std::string kKey = VariantKey("s3://shop/42.jpg", 3, "rs:fill:300:300", "webp");

CachedImage Sample() {
  CachedImage image;
  image.body = common::MakeShared(std::string("RIFF\0\0\0\0WEBPVP8 body bytes", 27));
  image.content_type = "image/webp";
  image.etag = "\"" + kKey.substr(0, 32) + "\"";
  image.last_modified = 1'700'000'000;
  image.width = 300;
  image.height = 200;
  return image;
}

TEST(EntryCodecTest, RoundTripsEveryField) {
  const auto bytes = EncodeEntry(kKey, Sample(), 1'750'000'000);
  auto decoded = DecodeEntry(bytes, kKey);
  ASSERT_TRUE(decoded) << decoded.error().message;
  const auto& image = *decoded->image;
  EXPECT_EQ(*image.body, *Sample().body);
  EXPECT_EQ(image.content_type, "image/webp");
  EXPECT_EQ(image.etag, Sample().etag);
  EXPECT_EQ(image.last_modified, 1'700'000'000);
  EXPECT_EQ(image.width, 300);
  EXPECT_EQ(image.height, 200);
  EXPECT_EQ(decoded->created_unix, 1'750'000'000);
}

TEST(EntryCodecTest, EmptyBodyRoundTrips) {
  CachedImage image = Sample();
  image.body = nullptr;
  auto decoded = DecodeEntry(EncodeEntry(kKey, image, 1), kKey);
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(decoded->image->body->empty());
}

TEST(EntryCodecTest, EveryFlippedByteIsRefused) {
  const auto bytes = EncodeEntry(kKey, Sample(), 1'750'000'000);
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string corrupt = bytes;
    corrupt[i] = static_cast<char>(corrupt[i] ^ 0x01);
    EXPECT_FALSE(DecodeEntry(corrupt, kKey)) << "byte " << i;
  }
}

TEST(EntryCodecTest, TruncatedAndExtendedEntriesAreRefused) {
  const auto bytes = EncodeEntry(kKey, Sample(), 1);
  for (size_t n :
       {size_t{0}, size_t{4}, kEntryHeaderSize - 1, kEntryHeaderSize, bytes.size() - 1}) {
    EXPECT_FALSE(DecodeEntry(bytes.substr(0, n), kKey)) << n;
  }
  EXPECT_FALSE(DecodeEntry(bytes + "x", kKey));
}

TEST(EntryCodecTest, ForeignEntriesAreRefused) {
  const auto bytes = EncodeEntry(kKey, Sample(), 1);
  // Stored under another key (a foreign writer, a renamed file).
  EXPECT_FALSE(DecodeEntry(bytes, VariantKey("s3://shop/42.jpg", 4, "rs:fill:300:300", "webp")));
  // Another layout version.
  std::string other_version = bytes;
  other_version[4] = static_cast<char>(kEntryVersion + 1);
  EXPECT_FALSE(DecodeEntry(other_version, kKey));
  EXPECT_FALSE(DecodeEntry("not an entry at all, but long enough to hold a header ........", kKey));
}

TEST(KeyGenerationTest, GenerationChangesKeyButNotSourceTag) {
  const auto before = VariantKey("local:///a.jpg", 0, "w:100", "png");
  const auto after = VariantKey("local:///a.jpg", 1, "w:100", "png");
  EXPECT_NE(before, after);
  EXPECT_EQ(VariantKey("local:///a.jpg", 1, "w:100", "png"), after);
  EXPECT_EQ(SourceTag("local:///a.jpg"), SourceTag("local:///a.jpg"));
  EXPECT_NE(SourceTag("local:///a.jpg"), SourceTag("local:///b.jpg"));
}

}  // namespace
}  // namespace imgorigin::cache
