// base64 (RFC 4648 §4, the standard alphabet) and base64url (§5) and hex helpers for signatures,
// keys and base64 sources. Pure functions; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace imgorigin::signing {

// base64url, encoded without padding.
std::string Base64UrlEncode(std::string_view bytes);

// Decodes with or without "=" padding; nullopt on any character outside the alphabet or an
// impossible length.
std::optional<std::string> Base64UrlDecode(std::string_view text);

// Standard base64 ("+" and "/"), encoded with "=" padding: what Standard Webhooks signatures and
// secrets use.
std::string Base64Encode(std::string_view bytes);

// Standard base64, with or without "=" padding; nullopt as for Base64UrlDecode.
std::optional<std::string> Base64Decode(std::string_view text);

// "736563726574" → "secret"; nullopt on odd length or non-hex characters.
std::optional<std::string> HexDecode(std::string_view hex);

}  // namespace imgorigin::signing
