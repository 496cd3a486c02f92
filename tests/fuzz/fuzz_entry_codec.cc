// Fuzz target: the cache entry codec (cache::DecodeEntry), which reads bytes from shared tiers
// (Redis, memcached, disk, S3) that any other writer may have put there.
//
// Each input is decoded three ways:
//   1. as is, under a fixed key (what a foreign or corrupt entry looks like);
//   2. with the magic, version, flags and checksum repaired and the key taken from the entry
//      itself, so the length and field parsing behind the checksum is reached;
//   3. as the fields of an entry (key, type, etag, body, numbers) to EncodeEntry, then decoded.
// Invariants: an entry that decodes re-encodes to exactly the same bytes; encode → decode gives
// back every field; corrupting any byte of an encoded entry makes it a miss.
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "cache/entry_codec.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

using imgorigin::cache::CachedImage;
using imgorigin::cache::DecodeEntry;
using imgorigin::cache::EncodeEntry;
using imgorigin::cache::kEntryHeaderSize;
using imgorigin::cache::kEntryVersion;

uint64_t Load64(std::string_view in, size_t at) {
  uint64_t v = 0;
  for (size_t i = 8; i-- > 0;) v = v << 8 | static_cast<unsigned char>(in[at + i]);
  return v;
}

uint16_t Load16(std::string_view in, size_t at) {
  return static_cast<uint16_t>(static_cast<unsigned char>(in[at]) |
                               static_cast<unsigned char>(in[at + 1]) << 8);
}

void CheckReencodes(const std::string& bytes, std::string_view key) {
  const auto decoded = DecodeEntry(bytes, key);
  if (!decoded) return;
  FUZZ_CHECK(decoded->image && decoded->image->body, "decoded entry without a body");
  // One entry has one encoding: the reserved flag and padding bytes must be zero to decode.
  const std::string again = EncodeEntry(key, *decoded->image, decoded->created_unix);
  FUZZ_CHECK(again.size() == bytes.size() &&
                 again.compare(16, std::string::npos, bytes, 16, std::string::npos) == 0,
             "a decoded entry does not re-encode to its bytes");
}

// Variant 2: make the header valid so the parser behind the checksum sees arbitrary lengths.
void CheckRepaired(std::string bytes) {
  if (bytes.size() < kEntryHeaderSize) return;
  std::memcpy(bytes.data(), "IOCE", 4);
  bytes[4] = static_cast<char>(kEntryVersion);
  bytes[5] = bytes[6] = bytes[7] = 0;
  const uint64_t sum = XXH3_64bits(bytes.data() + 16, bytes.size() - 16);
  for (size_t i = 0; i < 8; ++i) bytes[8 + i] = static_cast<char>(sum >> (8 * i) & 0xFF);
  const size_t key_len = Load16(bytes, 48);
  const std::string key = bytes.substr(kEntryHeaderSize, key_len);
  CheckReencodes(bytes, key);
  // Under a different key it must always be a miss.
  FUZZ_CHECK(!DecodeEntry(bytes, key + "x"), "an entry decoded under another key");
}

// Variant 3: fields → EncodeEntry → DecodeEntry.
void CheckRoundTrip(std::string_view in) {
  if (in.size() < 24) return;
  CachedImage image;
  const int64_t created = static_cast<int64_t>(Load64(in, 0));
  image.last_modified = static_cast<int64_t>(Load64(in, 8));
  image.width = static_cast<int>(Load16(in, 16)) - 1;
  image.height = static_cast<int>(Load16(in, 18)) * 7;
  const size_t key_len = in[20] & 0x3F, type_len = in[21] & 0x1F, etag_len = in[22] & 0x3F;
  const bool has_body = (in[23] & 1) != 0;
  std::string_view rest = in.substr(24);
  auto take = [&rest](size_t n) {
    const std::string_view part = rest.substr(0, n);
    rest.remove_prefix(part.size());
    return std::string(part);
  };
  const std::string key = take(key_len);
  image.content_type = take(type_len);
  image.etag = take(etag_len);
  if (has_body) image.body = imgorigin::common::MakeShared(std::string(rest));

  const std::string encoded = EncodeEntry(key, image, created);
  const auto decoded = DecodeEntry(encoded, key);
  FUZZ_CHECK(decoded.has_value(), "a fresh entry does not decode: %s",
             decoded ? "" : decoded.error().message.c_str());
  const CachedImage& back = *decoded->image;
  FUZZ_CHECK(decoded->created_unix == created, "created");
  FUZZ_CHECK(back.last_modified == image.last_modified, "last_modified");
  FUZZ_CHECK(back.width == image.width && back.height == image.height, "sides");
  FUZZ_CHECK(back.content_type == image.content_type && back.etag == image.etag, "type/etag");
  FUZZ_CHECK(back.body && *back.body == (has_body ? std::string(rest) : std::string()), "body");

  // Any single corrupted byte makes the entry a miss (the checksum covers all but itself, and
  // the magic, version and flags are checked). Which byte and which bits come from the input.
  std::string corrupt = encoded;
  const size_t at = (static_cast<size_t>(Load16(in, 16)) * 31 + in.size()) % corrupt.size();
  corrupt[at] = static_cast<char>(corrupt[at] ^ (in[23] | 1));
  FUZZ_CHECK(!DecodeEntry(corrupt, key), "corrupting byte %zu was not noticed", at);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  CheckReencodes(input, "rs:fit:100:100/plain/local:///a.jpg");
  CheckRepaired(input);
  CheckRoundTrip(input);
  return 0;
}
