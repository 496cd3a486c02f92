#include <gtest/gtest.h>

#include <string>

#include "signing/base64url.h"
#include "signing/signer.h"

namespace imgorigin::signing {
namespace {

// imgproxy's published example (docs: "Signing a URL").
constexpr std::string_view kPath =
    "/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png";
constexpr std::string_view kSignature = "oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8";

KeyPair Pair(std::string_view key_hex, std::string_view salt_hex) {
  return {*HexDecode(key_hex), *HexDecode(salt_hex)};
}

KeyPair ImgproxyPair() { return Pair("736563726574", "68656C6C6F"); }

Config WithKeys(std::vector<KeyPair> keys, size_t signature_size = 32) {
  Config config;
  config.keys = std::move(keys);
  config.signature_size = signature_size;
  return config;
}

TEST(SignerTest, MatchesImgproxyTestVector) {
  const Signer signer(WithKeys({ImgproxyPair()}));
  EXPECT_EQ(signer.Sign(kPath), kSignature);
  EXPECT_TRUE(signer.Verify(kSignature, kPath));
}

TEST(SignerTest, TruncatesTheDigestBeforeEncoding) {
  const Signer full(WithKeys({ImgproxyPair()}));
  const Signer truncated(WithKeys({ImgproxyPair()}, 8));
  const std::string full_digest = *Base64UrlDecode(full.Sign(kPath));
  const std::string short_sig = truncated.Sign(kPath);

  EXPECT_EQ(short_sig, Base64UrlEncode(full_digest.substr(0, 8)));
  EXPECT_EQ(short_sig.size(), 11u);
  // The first 8 bytes fill 10 whole characters, which the full signature shares.
  EXPECT_EQ(short_sig.substr(0, 10), std::string(kSignature.substr(0, 10)));

  EXPECT_TRUE(truncated.Verify(short_sig, kPath));
  EXPECT_FALSE(truncated.Verify(kSignature, kPath));
  EXPECT_FALSE(full.Verify(short_sig, kPath));
}

TEST(SignerTest, RotationSignsWithFirstAndVerifiesAny) {
  const KeyPair old_pair = ImgproxyPair();
  const KeyPair new_pair = Pair("6e65772d6b6579", "6e65772d73616c74");
  const KeyPair third = Pair("7468697264", "73616c74");

  const Signer rotated(WithKeys({new_pair, old_pair}));
  const Signer only_new(WithKeys({new_pair}));
  const Signer only_third(WithKeys({third}));

  EXPECT_EQ(rotated.Sign(kPath), only_new.Sign(kPath));
  EXPECT_NE(rotated.Sign(kPath), kSignature);
  EXPECT_TRUE(rotated.Verify(kSignature, kPath));
  EXPECT_TRUE(rotated.Verify(only_new.Sign(kPath), kPath));
  EXPECT_FALSE(rotated.Verify(only_third.Sign(kPath), kPath));
}

TEST(SignerTest, SaltIsPartOfTheMessage) {
  const Signer a(WithKeys({Pair("736563726574", "68656C6C6F")}));
  const Signer b(WithKeys({Pair("736563726574", "68656C6C70")}));
  EXPECT_NE(a.Sign(kPath), b.Sign(kPath));
}

TEST(SignerTest, RejectsTamperedPath) {
  const Signer signer(WithKeys({ImgproxyPair()}));
  EXPECT_FALSE(signer.Verify(kSignature,
                             "/rs:fill:300:401:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/"
                             "cy9jdXJpb3NpdHku/anBn.png"));
  EXPECT_FALSE(signer.Verify(kSignature, std::string(kPath) + "/"));
  EXPECT_FALSE(signer.Verify(kSignature, kPath.substr(1)));
  EXPECT_FALSE(signer.Verify(kSignature, ""));
}

TEST(SignerTest, RejectsTamperedSignature) {
  const Signer signer(WithKeys({ImgproxyPair()}));
  std::string sig(kSignature);
  for (size_t i = 0; i < sig.size(); ++i) {
    std::string bad = sig;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(signer.Verify(bad, kPath)) << bad;
  }
}

TEST(SignerTest, RejectsMalformedSignaturesWithoutCrashing) {
  const Signer signer(WithKeys({ImgproxyPair()}));
  const std::string sig(kSignature);
  EXPECT_FALSE(signer.Verify("", kPath));
  EXPECT_FALSE(signer.Verify("_", kPath));
  EXPECT_FALSE(signer.Verify(sig.substr(0, 42), kPath));
  EXPECT_FALSE(signer.Verify(sig + "A", kPath));
  EXPECT_FALSE(signer.Verify(sig + "=", kPath));
  EXPECT_FALSE(signer.Verify(sig + sig, kPath));
  EXPECT_FALSE(signer.Verify(std::string(43, '!'), kPath));
  EXPECT_FALSE(signer.Verify(std::string(43, '\0'), kPath));
  EXPECT_FALSE(signer.Verify("oKfUtW34Dvo2BGQehJFR4Nr0/rIjOtdtzJ3QFsUcXH8", kPath));  // std '/'
  EXPECT_FALSE(signer.Verify("oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH9", kPath));  // stray bits
  EXPECT_FALSE(signer.Verify(std::string(10000, 'A'), kPath));
}

TEST(SignerTest, UnsignedModeAcceptsAnySignatureWhenNoKeys) {
  Config config;
  config.allow_unsigned = true;
  const Signer signer(config);
  EXPECT_FALSE(signer.has_keys());
  EXPECT_TRUE(signer.Verify("_", kPath));
  EXPECT_TRUE(signer.Verify("insecure", kPath));
  EXPECT_TRUE(signer.Verify(kSignature, kPath));
  EXPECT_TRUE(signer.Verify(signer.Sign(kPath), kPath));
}

TEST(SignerTest, UnsignedModeStillVerifiesWhenKeysAreConfigured) {
  Config config = WithKeys({ImgproxyPair()});
  config.allow_unsigned = true;
  const Signer signer(config);
  EXPECT_TRUE(signer.Verify(kSignature, kPath));
  EXPECT_FALSE(signer.Verify("_", kPath));
}

TEST(SignerTest, NoKeysWithoutUnsignedModeRejectsEverything) {
  const Signer signer(Config{});
  EXPECT_FALSE(signer.Verify("_", kPath));
  EXPECT_FALSE(signer.Verify(kSignature, kPath));
}

TEST(SignerConfigTest, AcceptsKeysOrExplicitUnsignedMode) {
  EXPECT_TRUE(WithKeys({ImgproxyPair()}).Validate());
  EXPECT_TRUE(WithKeys({ImgproxyPair()}, 1).Validate());
  Config unsigned_mode;
  unsigned_mode.allow_unsigned = true;
  EXPECT_TRUE(unsigned_mode.Validate());
  EXPECT_TRUE(WithKeys({{"k", ""}}).Validate());  // an empty salt is allowed, as in imgproxy
}

TEST(SignerConfigTest, RefusesNoKeysWithoutUnsignedMode) {
  const auto result = Config{}.Validate();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message,
            "no signing keys configured: set IMGORIGIN_KEY and IMGORIGIN_SALT (hex), or "
            "IMGORIGIN_ALLOW_UNSIGNED=true for development");
}

TEST(SignerConfigTest, RefusesEmptyKey) {
  EXPECT_FALSE(WithKeys({ImgproxyPair(), {"", "salt"}}).Validate());
}

TEST(SignerConfigTest, RefusesSignatureSizeOutsideOneTo32) {
  EXPECT_FALSE(WithKeys({ImgproxyPair()}, 0).Validate());
  EXPECT_FALSE(WithKeys({ImgproxyPair()}, 33).Validate());
  EXPECT_TRUE(WithKeys({ImgproxyPair()}, 32).Validate());
}

}  // namespace
}  // namespace imgorigin::signing
