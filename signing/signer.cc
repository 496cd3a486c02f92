#include "signing/signer.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "signing/base64url.h"

namespace imgorigin::signing {
namespace {

constexpr size_t kDigestSize = 32;  // SHA-256

}  // namespace

common::Result<void> Config::Validate() const {
  if (signature_size < 1 || signature_size > kDigestSize) {
    return common::Fail(
        common::ErrorCode::kInternal,
        "signature size must be between 1 and 32 bytes, got " + std::to_string(signature_size));
  }
  if (keys.empty() && !allow_unsigned) {
    return common::Fail(common::ErrorCode::kInternal,
                        "no signing keys configured: set IMGORIGIN_KEY and IMGORIGIN_SALT (hex), "
                        "or IMGORIGIN_ALLOW_UNSIGNED=true for development");
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].key.empty()) {
      return common::Fail(common::ErrorCode::kInternal,
                          "signing key #" + std::to_string(i + 1) + " is empty");
    }
  }
  return {};
}

Signer::Signer(Config config) : config_(std::move(config)) {}

std::string Signer::Sign(std::string_view path) const {
  if (config_.keys.empty()) return "_";
  return Base64UrlEncode(Digest(config_.keys.front(), path));
}

bool Signer::Verify(std::string_view signature, std::string_view path) const {
  if (config_.keys.empty()) return config_.allow_unsigned;

  // Only the exact unpadded encoding is accepted, as imgproxy does.
  if (signature.find('=') != std::string_view::npos) return false;
  const std::optional<std::string> given = Base64UrlDecode(signature);
  if (!given || given->empty() || given->size() != config_.signature_size) return false;

  // Every pair is tried, without stopping at a match, so the time taken does not tell which
  // key (old or new) signed the URL.
  bool ok = false;
  for (const KeyPair& pair : config_.keys) {
    const std::string expected = Digest(pair, path);
    const bool match = expected.size() == given->size() &&
                       CRYPTO_memcmp(expected.data(), given->data(), given->size()) == 0;
    ok |= match;
  }
  return ok;
}

std::string Signer::Digest(const KeyPair& pair, std::string_view path) const {
  std::string message;
  message.reserve(pair.salt.size() + path.size());
  message.append(pair.salt).append(path);

  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (HMAC(EVP_sha256(), pair.key.data(), static_cast<int>(pair.key.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest,
           &digest_size) == nullptr) {
    // Never a valid signature: Verify() rejects it by its size, Sign() yields an empty segment.
    return {};
  }
  const size_t kept = std::min<size_t>(digest_size, config_.signature_size);
  return std::string(reinterpret_cast<const char*>(digest), kept);
}

}  // namespace imgorigin::signing
