// URL signatures, imgproxy's scheme: base64url(HMAC-SHA256(key, salt ‖ path)), unpadded,
// optionally truncated to the first `signature_size` bytes of the digest.
//
// Several key/salt pairs may be configured for rotation: Sign() uses the first, Verify() accepts
// any. Comparison is constant-time. Immutable after construction; any thread.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/handle.h"
#include "common/status.h"

namespace imgorigin::signing {

struct KeyPair {
  std::string key;   // raw bytes (configured as hex)
  std::string salt;  // raw bytes (configured as hex)
};

struct Config {
  std::vector<KeyPair> keys;
  size_t signature_size = 32;  // bytes of the HMAC kept before encoding, 1..32
  // With no keys, the server refuses to start unless this is set (development only).
  bool allow_unsigned = false;

  common::Result<void> Validate() const;
};

class Signer {
 public:
  explicit Signer(Config config);

  // Signature for `path` (everything after the signature segment, starting with "/") with the
  // first key pair. Without keys it returns "_", the placeholder segment unsigned mode accepts.
  std::string Sign(std::string_view path) const;

  // True when `signature` matches `path` under any key pair, or when no keys are configured and
  // unsigned mode is on (any signature segment is then accepted, as imgproxy does).
  bool Verify(std::string_view signature, std::string_view path) const;

  bool has_keys() const { return !config_.keys.empty(); }

 private:
  using MacCtxPtr = common::Handle<EVP_MAC_CTX, EVP_MAC_CTX_free>;

  // HMAC of salt ‖ path under pair `index`, truncated to signature_size; empty on failure.
  std::string Digest(size_t index, std::string_view path) const;

  Config config_;
  // Per key pair: an HMAC context already keyed and fed the salt. Each digest works on a copy,
  // so the key schedule and OpenSSL's algorithm look-up are paid once, not per request.
  std::vector<MacCtxPtr> keyed_;
};

}  // namespace imgorigin::signing
