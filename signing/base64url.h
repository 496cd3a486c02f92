// base64url (RFC 4648 §5) and hex helpers for signatures, keys and base64 sources.
// Pure functions; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace imgorigin::signing {

// Encodes without padding.
std::string Base64UrlEncode(std::string_view bytes);

// Decodes with or without "=" padding; nullopt on any character outside the alphabet or an
// impossible length.
std::optional<std::string> Base64UrlDecode(std::string_view text);

// "736563726574" → "secret"; nullopt on odd length or non-hex characters.
std::optional<std::string> HexDecode(std::string_view hex);

}  // namespace imgorigin::signing
