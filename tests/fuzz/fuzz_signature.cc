// Fuzz target: URL signature verification (signing::Signer::Verify) and the codecs under it
// (Base64UrlDecode, HexDecode).
//
// Input layout: byte 0 picks the signature size (1..32) and byte 1 where the rest is split into
// "signature" and "path"; the whole rest is also fed to the decoders. Invariants:
//   - Verify(sig, path) is true exactly when sig is the (unique, unpadded) signature of path
//     under one of the configured key pairs;
//   - Verify(Sign(path), path) is always true;
//   - base64url: decode(encode(x)) == x, and a text that decodes re-encodes to itself minus its
//     "=" padding (one accepted spelling per byte string);
//   - hex: a decoded text has half the length and re-encodes to the same digits (any case).
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "signing/base64url.h"
#include "signing/signer.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

using imgorigin::signing::Base64UrlDecode;
using imgorigin::signing::Base64UrlEncode;
using imgorigin::signing::Config;
using imgorigin::signing::HexDecode;
using imgorigin::signing::KeyPair;
using imgorigin::signing::Signer;

// imgproxy's documented example key and salt, configured as hex like the server's.
const KeyPair kOld{*HexDecode("943b421c9eb07c830af81030552c86009268de4e532ba2ee2eab8247c6da0881"),
                   *HexDecode("520f986b998545b4785e0defbc4f3c1203f22de2374a3d53cb7a7fe9fea309c5")};
const KeyPair kNew{std::string("\x00\x01\x02secret", 9), ""};

Signer MakeSigner(std::vector<KeyPair> keys, size_t signature_size) {
  Config config;
  config.keys = std::move(keys);
  config.signature_size = signature_size;
  return Signer(std::move(config));
}

void CheckSigner(std::string_view signature, std::string_view path, size_t signature_size) {
  const Signer both = MakeSigner({kNew, kOld}, signature_size);
  const std::string by_new = both.Sign(path);
  const std::string by_old = MakeSigner({kOld}, signature_size).Sign(path);
  FUZZ_CHECK(both.Verify(by_new, path), "own signature rejected (size %zu)", signature_size);
  FUZZ_CHECK(both.Verify(by_old, path), "rotated key's signature rejected (size %zu)",
             signature_size);
  const bool expected = signature == by_new || signature == by_old;
  FUZZ_CHECK(both.Verify(signature, path) == expected,
             "Verify(\"%.*s\") = %d, signatures are \"%s\" / \"%s\"",
             static_cast<int>(signature.size()), signature.data(), !expected, by_new.c_str(),
             by_old.c_str());

  Config unsigned_config;
  unsigned_config.allow_unsigned = true;
  FUZZ_CHECK(Signer(unsigned_config).Verify(signature, path), "unsigned mode rejected a URL");
  FUZZ_CHECK(!Signer(Config{}).Verify(signature, path), "no keys and not unsigned accepted");
}

void CheckBase64(std::string_view text) {
  const std::string encoded = Base64UrlEncode(text);
  const auto round = Base64UrlDecode(encoded);
  FUZZ_CHECK(round && *round == text, "decode(encode(x)) != x for %zu bytes", text.size());

  if (const auto decoded = Base64UrlDecode(text)) {
    std::string_view unpadded = text;
    while (!unpadded.empty() && unpadded.back() == '=') unpadded.remove_suffix(1);
    FUZZ_CHECK(Base64UrlEncode(*decoded) == unpadded, "\"%.*s\" has two spellings",
               static_cast<int>(text.size()), text.data());
  }
}

void CheckHex(std::string_view text) {
  const auto decoded = HexDecode(text);
  if (!decoded) return;
  FUZZ_CHECK(decoded->size() * 2 == text.size(), "hex length");
  static constexpr char kDigits[] = "0123456789abcdef";
  for (size_t i = 0; i < decoded->size(); ++i) {
    const auto byte = static_cast<unsigned char>((*decoded)[i]);
    FUZZ_CHECK(std::tolower(static_cast<unsigned char>(text[2 * i])) == kDigits[byte >> 4] &&
                   std::tolower(static_cast<unsigned char>(text[2 * i + 1])) ==
                       kDigits[byte & 0xF],
               "hex digit %zu", i);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckBase64(input);
  CheckHex(input);
  if (size < 2) return 0;
  CheckBase64(input.substr(2));
  CheckHex(input.substr(2));
  const size_t signature_size = 1 + data[0] % 32;
  const std::string_view rest = input.substr(2);
  // Byte 1 = 255 means "split at the first '/'", as the origin does; otherwise an offset.
  size_t split = data[1] == 255 ? rest.find('/') : data[1];
  if (split == std::string_view::npos || split > rest.size()) split = rest.size();
  CheckSigner(rest.substr(0, split), rest.substr(split), signature_size);
  return 0;
}
