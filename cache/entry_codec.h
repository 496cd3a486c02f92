// The byte layout of a variant in the shared, disk and S3 tiers.
//
// A fixed little-endian header (magic, layout version, checksum, creation time, source
// Last-Modified, dimensions, lengths), then the variant key, content type, ETag and body. The
// XXH3-64 checksum covers everything after itself, and the key is stored so that an entry that
// landed under the wrong name (a foreign writer sharing a Redis, a renamed file) is refused.
// Anything that does not decode is a miss, never an answer. Pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cache/memory_tier.h"
#include "common/status.h"

namespace imgorigin::cache {

// Bumped whenever the layout changes; entries of other versions are misses.
inline constexpr uint8_t kEntryVersion = 1;

// Bytes before the key: enough to read an entry's metadata without its body.
inline constexpr size_t kEntryHeaderSize = 56;

std::string EncodeEntry(std::string_view key, const CachedImage& image, int64_t created_unix);

struct DecodedEntry {
  CachedImagePtr image;
  int64_t created_unix = 0;
};

// Verifies magic, version, lengths, checksum and key. Takes the bytes by value so the body can
// reuse their buffer instead of being copied.
common::Result<DecodedEntry> DecodeEntry(std::string bytes, std::string_view expected_key);

}  // namespace imgorigin::cache
