#include "cache/key.h"

#include <openssl/evp.h>

#include <array>
#include <cstdlib>
#include <memory>

#include "common/handle.h"

namespace imgorigin::cache {
namespace {

using MdCtxPtr = common::Handle<EVP_MD_CTX, EVP_MD_CTX_free>;

// Fixed-width little-endian, so the encoding does not depend on the host.
std::array<unsigned char, 8> U64(uint64_t v) {
  std::array<unsigned char, 8> out;
  for (auto& b : out) {
    b = static_cast<unsigned char>(v & 0xFF);
    v >>= 8;
  }
  return out;
}

// Fetched once: with OpenSSL 3, EVP_sha256() makes every EVP_DigestInit_ex look the algorithm
// up again under a global lock, which costs more than hashing a short key. Never freed: the
// process-wide algorithm outlives every caller.
const EVP_MD* Sha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

class Hasher {
 public:
  Hasher() : ctx_(EVP_MD_CTX_new()) {
    ok_ = ctx_ && Sha256() != nullptr && EVP_DigestInit_ex2(ctx_.get(), Sha256(), nullptr) == 1;
  }

  void Update(std::string_view bytes) {
    ok_ = ok_ && EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size()) == 1;
  }

  void Number(uint64_t v) {
    const auto bytes = U64(v);
    Update(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }

  // Length first, so that field boundaries are part of the hashed bytes: ("ab", "c") and
  // ("a", "bc") cannot collide.
  void Field(std::string_view s) {
    Number(s.size());
    Update(s);
  }

  std::string HexDigest() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    ok_ = ok_ && EVP_DigestFinal_ex(ctx_.get(), digest, &size) == 1;
    // Only allocation failure gets here. There is no safe key to fall back to (a shared one would
    // answer requests with another variant's bytes), and the signature returns a plain string.
    if (!ok_) std::abort();
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (unsigned int i = 0; i < size; ++i) {
      out.push_back(kHex[digest[i] >> 4]);
      out.push_back(kHex[digest[i] & 0x0F]);
    }
    return out;
  }

 private:
  MdCtxPtr ctx_;
  bool ok_ = false;
};

}  // namespace

std::string VariantKey(std::string_view source, uint64_t source_generation,
                       std::string_view canonical_spec, std::string_view output_format,
                       std::string_view cachebuster) {
  Hasher h;
  h.Number(static_cast<uint64_t>(kKeyVersion));
  h.Field(source);
  h.Number(source_generation);
  h.Field(canonical_spec);
  h.Field(output_format);
  // Only when set, so that URLs without one keep the keys already in the tiers. Length-prefixed
  // like every field, so the bytes hashed with a cachebuster never equal those hashed without.
  if (!cachebuster.empty()) h.Field(cachebuster);
  return h.HexDigest();
}

std::string SourceTag(std::string_view source) {
  // 64 bits: collisions between sources are negligible at any realistic catalogue size, and
  // CDNs limit tag length (CloudFront and Fastly count every byte of the header).
  constexpr size_t kTagHexDigits = 16;
  Hasher h;
  h.Update(source);
  return "s-" + h.HexDigest().substr(0, kTagHexDigits);
}

}  // namespace imgorigin::cache
