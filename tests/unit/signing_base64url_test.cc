#include <gtest/gtest.h>

#include <string>

#include "signing/base64url.h"

namespace imgorigin::signing {
namespace {

struct Vector {
  const char* plain;
  const char* encoded;  // unpadded
  const char* padded;
};

// RFC 4648 §10.
constexpr Vector kRfc4648[] = {
    {"", "", ""},
    {"f", "Zg", "Zg=="},
    {"fo", "Zm8", "Zm8="},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg", "Zm9vYg=="},
    {"fooba", "Zm9vYmE", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

TEST(Base64UrlTest, EncodesRfc4648VectorsWithoutPadding) {
  for (const auto& v : kRfc4648) EXPECT_EQ(Base64UrlEncode(v.plain), v.encoded) << v.plain;
}

TEST(Base64UrlTest, DecodesRfc4648VectorsWithAndWithoutPadding) {
  for (const auto& v : kRfc4648) {
    EXPECT_EQ(Base64UrlDecode(v.encoded), std::optional<std::string>(v.plain)) << v.encoded;
    EXPECT_EQ(Base64UrlDecode(v.padded), std::optional<std::string>(v.plain)) << v.padded;
  }
}

TEST(Base64UrlTest, UsesTheUrlSafeAlphabet) {
  const std::string bytes("\xfb\xff\xbf", 3);
  EXPECT_EQ(Base64UrlEncode(bytes), "-_-_");
  EXPECT_EQ(Base64UrlDecode("-_-_"), bytes);
}

TEST(Base64UrlTest, RoundTripsEveryByteValue) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t len = 0; len <= all.size(); len += 37) {
    const std::string bytes = all.substr(0, len);
    const std::string encoded = Base64UrlEncode(bytes);
    EXPECT_EQ(encoded.find('='), std::string::npos);
    EXPECT_EQ(Base64UrlDecode(encoded), bytes);
  }
}

TEST(Base64UrlTest, RejectsCharactersOutsideTheAlphabet) {
  EXPECT_FALSE(Base64UrlDecode("Zm9v+mFy"));  // standard alphabet, not url-safe
  EXPECT_FALSE(Base64UrlDecode("Zm9v/mFy"));
  EXPECT_FALSE(Base64UrlDecode("Zm9 vYmF"));
  EXPECT_FALSE(Base64UrlDecode("Zm9v\n"));
  EXPECT_FALSE(Base64UrlDecode(std::string("Zm\0v", 4)));
  EXPECT_FALSE(Base64UrlDecode("Zm9v\xc3\xa9"));
}

TEST(Base64UrlTest, RejectsImpossibleLengthsAndMisplacedPadding) {
  EXPECT_FALSE(Base64UrlDecode("Z"));
  EXPECT_FALSE(Base64UrlDecode("Zm9vY"));
  EXPECT_FALSE(Base64UrlDecode("="));
  EXPECT_FALSE(Base64UrlDecode("===="));
  EXPECT_FALSE(Base64UrlDecode("Zg="));    // incomplete padding
  EXPECT_FALSE(Base64UrlDecode("Zg==="));  // too much padding
  EXPECT_FALSE(Base64UrlDecode("Zm9v===="));
  EXPECT_FALSE(Base64UrlDecode("Zg==Zm9v"));  // padding in the middle
}

TEST(Base64UrlTest, RejectsNonZeroTrailingBits) {
  // "Zg" is the only encoding of "f"; "Zh" carries the same byte plus stray low bits.
  EXPECT_FALSE(Base64UrlDecode("Zh"));
  EXPECT_FALSE(Base64UrlDecode("Zm9"));
}

TEST(Base64Test, EncodesRfc4648VectorsWithPadding) {
  for (const auto& v : kRfc4648) EXPECT_EQ(Base64Encode(v.plain), v.padded) << v.plain;
}

TEST(Base64Test, DecodesRfc4648VectorsWithAndWithoutPadding) {
  for (const auto& v : kRfc4648) {
    EXPECT_EQ(Base64Decode(v.padded), std::optional<std::string>(v.plain)) << v.padded;
    EXPECT_EQ(Base64Decode(v.encoded), std::optional<std::string>(v.plain)) << v.encoded;
  }
}

TEST(Base64Test, UsesTheStandardAlphabetOnly) {
  const std::string bytes("\xfb\xff\xbf", 3);
  EXPECT_EQ(Base64Encode(bytes), "+/+/");
  EXPECT_EQ(Base64Decode("+/+/"), bytes);
  EXPECT_FALSE(Base64Decode("-_-_"));
  EXPECT_FALSE(Base64Decode("Zg==Zm9v"));
  EXPECT_FALSE(Base64Decode("Zh"));
}

TEST(HexDecodeTest, DecodesBothCases) {
  EXPECT_EQ(HexDecode("736563726574"), "secret");
  EXPECT_EQ(HexDecode("68656C6C6F"), "hello");
  EXPECT_EQ(HexDecode("00ff7FaB"), std::string("\x00\xff\x7f\xab", 4));
  EXPECT_EQ(HexDecode(""), "");
}

TEST(HexDecodeTest, RejectsOddLengthAndNonHex) {
  EXPECT_FALSE(HexDecode("abc"));
  EXPECT_FALSE(HexDecode("zz"));
  EXPECT_FALSE(HexDecode("0x12"));
  EXPECT_FALSE(HexDecode("12 4"));
}

}  // namespace
}  // namespace imgorigin::signing
