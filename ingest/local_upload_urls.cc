#include "ingest/local_upload_urls.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>

namespace imgorigin::ingest {

using common::ErrorCode;
using common::Fail;
using common::Result;

std::string LocalUploadUrls::Mac(std::string_view id, std::string_view content_type,
                                 int64_t expires) const {
  // Newline-separated: neither an id nor a header value nor a number holds one.
  const std::string message =
      "PUT\n" + std::string(id) + "\n" + std::string(content_type) + "\n" + std::to_string(expires);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &size);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

storage::S3Client::PresignedUrl LocalUploadUrls::Sign(
    std::string_view id, std::string_view content_type, std::chrono::seconds expires,
    std::chrono::system_clock::time_point now) const {
  const auto at = std::chrono::floor<std::chrono::seconds>(now) + expires;
  const int64_t unix = at.time_since_epoch().count();
  return {.url = path_prefix_ + std::string(id) + "/object?expires=" + std::to_string(unix) +
                 "&signature=" + Mac(id, content_type, unix),
          .headers = {{"Content-Type", std::string(content_type)}},
          .expires_at = at};
}

Result<void> LocalUploadUrls::Verify(std::string_view id, std::string_view content_type,
                                     std::string_view expires, std::string_view signature,
                                     std::chrono::system_clock::time_point now) const {
  int64_t unix = 0;
  const auto [end, ec] = std::from_chars(expires.data(), expires.data() + expires.size(), unix);
  if (ec != std::errc() || end != expires.data() + expires.size()) {
    return Fail(ErrorCode::kPermissionDenied, "the upload URL is malformed");
  }
  const std::string expected = Mac(id, content_type, unix);
  if (signature.size() != expected.size() ||
      CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) != 0) {
    return Fail(ErrorCode::kPermissionDenied,
                "the upload URL's signature does not match (send the Content-Type it was made "
                "for, and the URL unchanged)");
  }
  if (std::chrono::system_clock::to_time_t(now) > unix) {
    return Fail(ErrorCode::kPermissionDenied, "the upload URL has expired");
  }
  return {};
}

}  // namespace imgorigin::ingest
