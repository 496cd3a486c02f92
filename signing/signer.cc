#include "signing/signer.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <memory>
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

Signer::Signer(Config config) : config_(std::move(config)) {
  const common::Handle<EVP_MAC, EVP_MAC_free> hmac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end()};
  for (const KeyPair& pair : config_.keys) {
    MacCtxPtr ctx(hmac ? EVP_MAC_CTX_new(hmac.get()) : nullptr);
    const bool ok =
        ctx &&
        EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(pair.key.data()),
                     pair.key.size(), params) == 1 &&
        EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(pair.salt.data()),
                       pair.salt.size()) == 1;
    // A pair that could not be set up never matches (Digest() yields nothing for it).
    keyed_.push_back(ok ? std::move(ctx) : nullptr);
  }
}

std::string Signer::Sign(std::string_view path) const {
  if (config_.keys.empty()) return "_";
  return Base64UrlEncode(Digest(0, path));
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
  for (size_t i = 0; i < config_.keys.size(); ++i) {
    const std::string expected = Digest(i, path);
    const bool match = expected.size() == given->size() &&
                       CRYPTO_memcmp(expected.data(), given->data(), given->size()) == 0;
    ok |= match;
  }
  return ok;
}

std::string Signer::Digest(size_t index, std::string_view path) const {
  const EVP_MAC_CTX* keyed = keyed_[index].get();
  // Never a valid signature when empty: Verify() rejects it by its size, Sign() yields an empty
  // segment.
  if (keyed == nullptr) return {};
  MacCtxPtr ctx(EVP_MAC_CTX_dup(keyed));
  unsigned char digest[EVP_MAX_MD_SIZE];
  size_t digest_size = 0;
  if (!ctx ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(path.data()), path.size()) !=
          1 ||
      EVP_MAC_final(ctx.get(), digest, &digest_size, sizeof digest) != 1) {
    return {};
  }
  const size_t kept = std::min<size_t>(digest_size, config_.signature_size);
  return std::string(reinterpret_cast<const char*>(digest), kept);
}

}  // namespace imgorigin::signing
