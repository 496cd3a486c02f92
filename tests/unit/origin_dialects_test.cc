#include "origin/dialects.h"

#include <gtest/gtest.h>

namespace imgorigin::origin {
namespace {

using common::ErrorCode;

const signing::Signer& Keys() {
  static const signing::Signer signer(signing::Config{.keys = {{"secret", "salt"}}});
  return signer;
}

constexpr std::string_view kPath = "/api/v1/img/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.webp";

common::Result<Seed004Request> Parse(std::string_view query, std::string_view path = kPath) {
  return ParseSeed004(path, query, DialectConfig{}, Keys());
}

TEST(Seed004, AllowListedValuesNeedNoSignature) {
  auto r = Parse("thumbnail=200&rotate=180");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->id, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
  EXPECT_EQ(r->options, "/rs:fit:200:200/rot:180/f:webp");
  auto sized = Parse("width=400&height=100&rotate=-90");
  ASSERT_TRUE(sized.has_value()) << sized.error().message;
  EXPECT_EQ(sized->options, "/w:400/h:100/rot:270/f:webp");
  auto plain = Parse("");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->options, "/f:webp");
}

TEST(Seed004, OtherValuesNeedTheSignatureOfPathAndSortedQuery) {
  auto unsigned_request = Parse("thumbnail=201");
  ASSERT_FALSE(unsigned_request.has_value());
  EXPECT_EQ(unsigned_request.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(unsigned_request.error().message.find("s="), std::string::npos);
  // Quality is not allow-listed by default.
  EXPECT_EQ(Parse("quality=80").error().code, ErrorCode::kPermissionDenied);

  const std::string canonical = std::string(kPath) + "?quality=80&thumbnail=201";
  const std::string s = Keys().Sign(canonical);
  // Any parameter order: the signature covers them sorted.
  auto r = Parse("thumbnail=201&s=" + s + "&quality=80");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->options, "/rs:fit:201:201/q:80/f:webp");
  // The signature is of these values only.
  EXPECT_EQ(Parse("thumbnail=202&s=" + s + "&quality=80").error().code,
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(Parse("thumbnail=201&s=forged&quality=80").error().code,
            ErrorCode::kPermissionDenied);
  // Without keys (unsigned mode) nothing outside the lists can be signed.
  const signing::Signer none(signing::Config{.allow_unsigned = true});
  EXPECT_EQ(ParseSeed004(kPath, "thumbnail=201&s=x", DialectConfig{}, none).error().code,
            ErrorCode::kPermissionDenied);
}

TEST(Seed004, BadRequestsNameTheParameter) {
  for (const auto& [query, names] : std::vector<std::pair<std::string, std::string>>{
           {"thumbnail=abc", "thumbnail"},
           {"thumbnail=0", "thumbnail"},
           {"width=2147483648", "width"},
           {"rotate=45", "rotate"},
           {"quality=101", "quality"},
           {"thumbnail=100&thumbnail=200", "twice"},
           {"thumbnail=100&width=100", "thumbnail"},
           {"colour=red", "colour"},
       }) {
    auto r = Parse(query);
    ASSERT_FALSE(r.has_value()) << query;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << query;
    EXPECT_NE(r.error().message.find(names), std::string::npos) << r.error().message;
  }
  EXPECT_EQ(Parse("", "/api/v1/img/0190a1b2.bmpx").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(Parse("", "/api/v1/img/../etc/passwd.png").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(Parse("", "/api/v1/img/noextension").error().code, ErrorCode::kNotFound);
}

TEST(DialectConfig, Validate) {
  EXPECT_TRUE(DialectConfig{}.Validate().has_value());
  EXPECT_FALSE((DialectConfig{.rotations = {45}}).Validate().has_value());
  EXPECT_FALSE((DialectConfig{.sizes = {0}}).Validate().has_value());
  EXPECT_FALSE((DialectConfig{.qualities = {101}}).Validate().has_value());
}

}  // namespace
}  // namespace imgorigin::origin
