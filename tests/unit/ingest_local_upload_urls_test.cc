// LocalUploadUrls: a signed URL verifies for exactly its id, Content-Type and expiry, until it
// expires; anything changed, or another secret, is refused.
#include <gtest/gtest.h>

#include "common/status.h"
#include "ingest/local_upload_urls.h"

namespace imgorigin::ingest {
namespace {

using common::ErrorCode;
using std::chrono::seconds;

constexpr char kId[] = "01a23cc3-28e6-724f-a2c6-49480bdbf62a";
constexpr char kOther[] = "01a23cc3-28e6-724f-a2c6-49480bdbf62b";

// The value of `name` in a URL's query.
std::string Param(const std::string& url, const std::string& name) {
  const size_t at = url.find(name + "=");
  const size_t start = at + name.size() + 1;
  return url.substr(start, url.find('&', start) - start);
}

TEST(LocalUploadUrls, VerifiesWhatItSignedUntilItExpires) {
  const LocalUploadUrls urls("secret", "/v1/uploads/");
  const auto now = std::chrono::system_clock::now();
  const auto signed_url = urls.Sign(kId, "image/jpeg", seconds(60), now);
  EXPECT_TRUE(signed_url.url.starts_with(std::string("/v1/uploads/") + kId + "/object?expires="))
      << signed_url.url;
  ASSERT_EQ(signed_url.headers.size(), 1u);
  EXPECT_EQ(signed_url.headers[0].first, "Content-Type");
  EXPECT_EQ(signed_url.headers[0].second, "image/jpeg");
  const std::string expires = Param(signed_url.url, "expires");
  const std::string signature = Param(signed_url.url, "signature");
  EXPECT_EQ(signature.size(), 64u);

  EXPECT_TRUE(urls.Verify(kId, "image/jpeg", expires, signature, now));
  EXPECT_TRUE(urls.Verify(kId, "image/jpeg", expires, signature, now + seconds(59)));
  const auto refused = [&](const common::Result<void>& r) {
    return !r && r.error().code == ErrorCode::kPermissionDenied;
  };
  EXPECT_TRUE(refused(urls.Verify(kId, "image/jpeg", expires, signature, now + seconds(62))));
  EXPECT_TRUE(refused(urls.Verify(kOther, "image/jpeg", expires, signature, now)));
  EXPECT_TRUE(refused(urls.Verify(kId, "image/png", expires, signature, now)));
  EXPECT_TRUE(refused(
      urls.Verify(kId, "image/jpeg", std::to_string(std::stoll(expires) + 3600), signature, now)));
  EXPECT_TRUE(refused(urls.Verify(kId, "image/jpeg", expires + "x", signature, now)));
  EXPECT_TRUE(refused(urls.Verify(kId, "image/jpeg", expires, signature.substr(1), now)));
  std::string flipped = signature;
  flipped[0] = flipped[0] == 'a' ? 'b' : 'a';
  EXPECT_TRUE(refused(urls.Verify(kId, "image/jpeg", expires, flipped, now)));
  const LocalUploadUrls other("another secret", "/v1/uploads/");
  EXPECT_TRUE(refused(other.Verify(kId, "image/jpeg", expires, signature, now)));
}

}  // namespace
}  // namespace imgorigin::ingest
