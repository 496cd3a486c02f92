// Content digests shared by the stores: the SHA-256 that SigV4 signs as an S3 payload hash, and
// that names cached originals by their URL; the HMAC-SHA256 that SigV4 and webhook signatures
// are made of. Pure functions; any thread.
#pragma once

#include <string>
#include <string_view>

namespace imgorigin::storage {

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// The 32 raw bytes of HMAC-SHA256(key, data).
std::string HmacSha256(std::string_view key, std::string_view data);

}  // namespace imgorigin::storage
