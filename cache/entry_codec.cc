#include "cache/entry_codec.h"

#include <xxhash.h>

#include <cstring>
#include <limits>

namespace imgorigin::cache {
namespace {

using common::ErrorCode;
using common::Fail;

constexpr char kMagic[4] = {'I', 'O', 'C', 'E'};
// Offsets in the fixed header.
constexpr size_t kVersionAt = 4;
constexpr size_t kChecksumAt = 8;
constexpr size_t kCreatedAt = 16;
constexpr size_t kLastModifiedAt = 24;
constexpr size_t kWidthAt = 32;
constexpr size_t kHeightAt = 36;
constexpr size_t kBodyLengthAt = 40;
constexpr size_t kKeyLengthAt = 48;
constexpr size_t kTypeLengthAt = 50;
constexpr size_t kEtagLengthAt = 52;
static_assert(kEtagLengthAt + 4 == kEntryHeaderSize);

template <typename T>
void Store(std::string& out, size_t at, T value) {
  auto v = static_cast<std::make_unsigned_t<T>>(value);
  for (size_t i = 0; i < sizeof(T); ++i) {
    out[at + i] = static_cast<char>(v & 0xFF);
    v = static_cast<decltype(v)>(v >> 8);
  }
}

template <typename T>
T Load(std::string_view in, size_t at) {
  std::make_unsigned_t<T> v = 0;
  for (size_t i = sizeof(T); i-- > 0;) {
    v = static_cast<decltype(v)>((v << 8) | static_cast<unsigned char>(in[at + i]));
  }
  return static_cast<T>(v);
}

uint64_t Checksum(std::string_view entry) {
  return XXH3_64bits(entry.data() + kCreatedAt, entry.size() - kCreatedAt);
}

common::Error Corrupt(std::string what) {
  return common::Error{ErrorCode::kInternal, "cache entry " + std::move(what)};
}

}  // namespace

std::string EncodeEntry(std::string_view key, const CachedImage& image, int64_t created_unix) {
  const std::string_view body = image.body ? std::string_view(*image.body) : std::string_view();
  // Lengths are stored in 16 bits; the variant key, a MIME type and a quoted digest are far
  // shorter, so clamping only ever guards against misuse.
  auto short_len = [](std::string_view s) {
    return s.substr(0, std::numeric_limits<uint16_t>::max());
  };
  const std::string_view k = short_len(key), type = short_len(image.content_type),
                         etag = short_len(image.etag);
  std::string out(kEntryHeaderSize, '\0');
  out.reserve(kEntryHeaderSize + k.size() + type.size() + etag.size() + body.size());
  std::memcpy(out.data(), kMagic, sizeof kMagic);
  out[kVersionAt] = static_cast<char>(kEntryVersion);
  Store<int64_t>(out, kCreatedAt, created_unix);
  Store<int64_t>(out, kLastModifiedAt, image.last_modified);
  Store<uint32_t>(out, kWidthAt, static_cast<uint32_t>(image.width));
  Store<uint32_t>(out, kHeightAt, static_cast<uint32_t>(image.height));
  Store<uint64_t>(out, kBodyLengthAt, body.size());
  Store<uint16_t>(out, kKeyLengthAt, static_cast<uint16_t>(k.size()));
  Store<uint16_t>(out, kTypeLengthAt, static_cast<uint16_t>(type.size()));
  Store<uint16_t>(out, kEtagLengthAt, static_cast<uint16_t>(etag.size()));
  out.append(k).append(type).append(etag).append(body);
  Store<uint64_t>(out, kChecksumAt, Checksum(out));
  return out;
}

common::Result<DecodedEntry> DecodeEntry(std::string bytes, std::string_view expected_key) {
  const std::string_view in = bytes;
  if (in.size() < kEntryHeaderSize || std::memcmp(in.data(), kMagic, sizeof kMagic) != 0) {
    return std::unexpected(Corrupt("is not an imgorigin entry"));
  }
  // The bytes between version and checksum are reserved (zero) and outside the checksum.
  if (in[kVersionAt + 1] != 0 || in[kVersionAt + 2] != 0 || in[kVersionAt + 3] != 0) {
    return std::unexpected(Corrupt("has unknown flags"));
  }
  if (static_cast<uint8_t>(in[kVersionAt]) != kEntryVersion) {
    return std::unexpected(
        Corrupt("has layout version " + std::to_string(static_cast<uint8_t>(in[kVersionAt]))));
  }
  const size_t key_len = Load<uint16_t>(in, kKeyLengthAt);
  const size_t type_len = Load<uint16_t>(in, kTypeLengthAt);
  const size_t etag_len = Load<uint16_t>(in, kEtagLengthAt);
  const uint64_t body_len = Load<uint64_t>(in, kBodyLengthAt);
  const size_t meta_end = kEntryHeaderSize + key_len + type_len + etag_len;
  if (meta_end > in.size() || body_len != in.size() - meta_end) {
    return std::unexpected(Corrupt("is truncated or has bad lengths"));
  }
  if (Load<uint64_t>(in, kChecksumAt) != Checksum(in)) {
    return std::unexpected(Corrupt("fails its checksum"));
  }
  // The two bytes after the ETag length pad the header; like the flags they must be zero, so
  // that one entry has exactly one encoding.
  if (in[kEtagLengthAt + 2] != 0 || in[kEtagLengthAt + 3] != 0) {
    return std::unexpected(Corrupt("has unknown flags"));
  }
  if (in.substr(kEntryHeaderSize, key_len) != expected_key) {
    return std::unexpected(Corrupt("belongs to another key"));
  }
  auto image = std::make_shared<CachedImage>();
  size_t at = kEntryHeaderSize + key_len;
  image->content_type = in.substr(at, type_len);
  at += type_len;
  image->etag = in.substr(at, etag_len);
  image->last_modified = Load<int64_t>(in, kLastModifiedAt);
  image->width = static_cast<int>(Load<uint32_t>(in, kWidthAt));
  image->height = static_cast<int>(Load<uint32_t>(in, kHeightAt));
  const int64_t created = Load<int64_t>(in, kCreatedAt);
  bytes.erase(0, meta_end);
  image->body = common::MakeShared(std::move(bytes));
  return DecodedEntry{std::move(image), created};
}

}  // namespace imgorigin::cache
