#include "ingest/record.h"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <limits>
#include <set>
#include <utility>

namespace imgorigin::ingest {
namespace {

using common::ErrorCode;
using common::Fail;
using nlohmann::json;

constexpr size_t kMaxFormatBytes = 16;
// Metadata text sent with an upload may be pretty-printed; the bound that matters is on the
// compact form, this one only caps the parsing work.
constexpr size_t kMaxMetadataTextBytes = 4 * kMaxMetadataBytes;

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

// The length of the well-formed UTF-8 sequence at s[i] (no overlong forms, no surrogates), or 0.
size_t Utf8SequenceAt(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t n = 0;
  uint32_t code_point = 0;
  if ((c & 0xe0) == 0xc0) {
    n = 2;
    code_point = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3;
    code_point = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4;
    code_point = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto next = static_cast<unsigned char>(s[i + k]);
    if ((next & 0xc0) != 0x80) return 0;
    code_point = (code_point << 6) | (next & 0x3f);
  }
  static constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code_point < kSmallest[n] || code_point > 0x10ffff ||
      (code_point >= 0xd800 && code_point <= 0xdfff)) {
    return 0;
  }
  return n;
}

bool IsFormatName(std::string_view format) {
  if (format.empty() || format.size() > kMaxFormatBytes) return false;
  for (char c : format) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

bool DeeperThan(const json& value, int limit) {
  if (limit < 0) return true;
  if (!value.is_structured()) return false;
  for (const auto& child : value) {
    if (DeeperThan(child, limit - 1)) return true;
  }
  return false;
}

common::Error Malformed(std::string_view what) {
  return common::Error{ErrorCode::kInternal, "record store holds malformed " + std::string(what)};
}

}  // namespace

bool IsCleanText(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t n = Utf8SequenceAt(text, i);
    if (n == 0 || (n == 1 && IsControl(static_cast<unsigned char>(text[i])))) return false;
    i += n;
  }
  return true;
}

std::string Rfc3339(Timestamp t) {
  const auto days = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day date(days);
  const std::chrono::hh_mm_ss time(t - days);
  char out[32];
  std::snprintf(out, sizeof out, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", int(date.year()),
                unsigned(date.month()), unsigned(date.day()), int(time.hours().count()),
                int(time.minutes().count()), int(time.seconds().count()),
                int(time.subseconds().count()));
  return out;
}

std::string_view StatusName(ImageStatus status) {
  switch (status) {
    case ImageStatus::kPending:
      return "pending";
    case ImageStatus::kReady:
      return "ready";
    case ImageStatus::kFailed:
      return "failed";
    case ImageStatus::kDeleted:
      return "deleted";
  }
  return "unknown";
}

std::optional<ImageStatus> ParseStatus(std::string_view name) {
  for (auto status :
       {ImageStatus::kPending, ImageStatus::kReady, ImageStatus::kFailed, ImageStatus::kDeleted}) {
    if (StatusName(status) == name) return status;
  }
  return std::nullopt;
}

common::Result<std::string> NewImageId() {
  std::array<unsigned char, 16> b{};
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
    return Fail(ErrorCode::kInternal, "no random bytes for a new image id");
  }
  const auto ms = static_cast<uint64_t>(
      std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now())
          .time_since_epoch()
          .count());
  for (int i = 0; i < 6; ++i) b[i] = static_cast<unsigned char>(ms >> (8 * (5 - i)));
  b[6] = static_cast<unsigned char>(0x70 | (b[6] & 0x0f));  // version 7
  b[8] = static_cast<unsigned char>(0x80 | (b[8] & 0x3f));  // RFC 9562 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(36);
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) id += '-';
    id += kHex[b[i] >> 4];
    id += kHex[b[i] & 0x0f];
  }
  return id;
}

common::Result<void> ValidateId(std::string_view id) {
  bool ok = id.size() == 36;
  for (size_t i = 0; ok && i < id.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    ok = dash ? id[i] == '-' : IsLowerHex(id[i]);
  }
  if (!ok) return Fail(ErrorCode::kInvalidArgument, "an image id is a lowercase UUID");
  return {};
}

common::Result<void> ValidateMetadata(const json& metadata) {
  if (!metadata.is_object()) return Fail(ErrorCode::kInvalidArgument, "metadata must be an object");
  if (DeeperThan(metadata, kMaxMetadataDepth)) {
    return Fail(ErrorCode::kInvalidArgument,
                "metadata is nested more than " + std::to_string(kMaxMetadataDepth) + " deep");
  }
  std::string text;
  // nlohmann::json reports strings that are not UTF-8 only by throwing from dump().
  try {
    text = metadata.dump();
  } catch (const json::exception&) {
    return Fail(ErrorCode::kInvalidArgument, "metadata strings must be UTF-8");
  }
  if (text.size() > kMaxMetadataBytes) {
    return Fail(ErrorCode::kInvalidArgument, "metadata is " + std::to_string(text.size()) +
                                                 " bytes as compact JSON; at most " +
                                                 std::to_string(kMaxMetadataBytes) + " allowed");
  }
  return {};
}

common::Result<void> ValidateFacts(const ImageFacts& facts) {
  if (!IsFormatName(facts.format)) {
    return Fail(ErrorCode::kInvalidArgument, "image format must be a short lowercase name");
  }
  if (facts.width <= 0 || facts.height <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "image dimensions must be positive");
  }
  if (facts.bytes <= 0) return Fail(ErrorCode::kInvalidArgument, "image size must be positive");
  bool hex = facts.sha256.size() == 64;
  for (char c : facts.sha256) hex = hex && IsLowerHex(c);
  if (!hex) return Fail(ErrorCode::kInvalidArgument, "sha256 must be 64 lowercase hex digits");
  return {};
}

common::Result<void> ValidateVariants(const std::vector<Variant>& variants) {
  if (variants.size() > kMaxVariants) {
    return Fail(ErrorCode::kInvalidArgument,
                "at most " + std::to_string(kMaxVariants) + " variants per image");
  }
  std::set<std::pair<std::string_view, std::string_view>> seen;
  for (const auto& v : variants) {
    if (v.preset.empty() || v.preset.size() > kMaxPresetNameBytes || !IsCleanText(v.preset)) {
      return Fail(ErrorCode::kInvalidArgument, "a variant needs a preset name of at most " +
                                                   std::to_string(kMaxPresetNameBytes) + " bytes");
    }
    if (!IsFormatName(v.format) || v.width <= 0 || v.height <= 0 || v.bytes <= 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  "variant " + v.preset + " needs a format, dimensions and a size");
    }
    if (v.location.empty() || v.location.size() > kMaxSourceUrlBytes || !IsCleanText(v.location)) {
      return Fail(ErrorCode::kInvalidArgument, "variant " + v.preset + " needs a location");
    }
    if (!seen.emplace(v.preset, v.format).second) {
      return Fail(ErrorCode::kInvalidArgument,
                  "variant " + v.preset + "." + v.format + " is listed twice");
    }
  }
  return {};
}

common::Result<void> ValidateSourceUrl(std::string_view source_url) {
  if (source_url.empty() || source_url.size() > kMaxSourceUrlBytes || !IsCleanText(source_url)) {
    return Fail(ErrorCode::kInvalidArgument, "a source URL is 1 to " +
                                                 std::to_string(kMaxSourceUrlBytes) +
                                                 " bytes of UTF-8 text without control characters");
  }
  return {};
}

common::Result<void> ValidateNewRecord(const ImageRecord& record) {
  if (auto r = ValidateId(record.id); !r) return r;
  if (auto r = ValidateSourceUrl(record.source_url); !r) return r;
  switch (record.status) {
    case ImageStatus::kPending:
      // Facts already (an upload checked at once, its eager variants still to make) or none.
      if (record.facts != ImageFacts{}) {
        if (auto r = ValidateFacts(record.facts); !r) return r;
      }
      break;
    case ImageStatus::kReady:
      if (auto r = ValidateFacts(record.facts); !r) return r;
      break;
    case ImageStatus::kFailed:
    case ImageStatus::kDeleted:
      return Fail(ErrorCode::kInvalidArgument, "a new record is pending or ready");
  }
  if (!record.last_error.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "a new record has no last error");
  }
  if (auto r = ValidateMetadata(record.metadata); !r) return r;
  return ValidateVariants(record.variants);
}

common::Result<json> ParseMetadata(std::string_view text) {
  if (text.size() > kMaxMetadataTextBytes) {
    return Fail(ErrorCode::kInvalidArgument, "metadata is too large");
  }
  json metadata = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (metadata.is_discarded()) return Fail(ErrorCode::kInvalidArgument, "metadata is not JSON");
  if (auto r = ValidateMetadata(metadata); !r) return std::unexpected(r.error());
  return metadata;
}

std::string CleanError(std::string_view error, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(error.size(), max_bytes));
  for (size_t i = 0; i < error.size();) {
    const size_t n = Utf8SequenceAt(error, i);
    if (out.size() + std::max<size_t>(n, 1) > max_bytes) break;
    if (n == 0) {
      out += '?';
      ++i;
    } else if (n == 1 && IsControl(static_cast<unsigned char>(error[i]))) {
      out += ' ';
      ++i;
    } else {
      out.append(error.substr(i, n));
      i += n;
    }
  }
  return out;
}

json ToJson(const Variant& v) {
  return json{{"preset", v.preset}, {"format", v.format}, {"width", v.width},
              {"height", v.height}, {"bytes", v.bytes},   {"location", v.location}};
}

json ToJson(const ImageRecord& record) {
  const ImageFacts& f = record.facts;
  const bool known = f.known();
  json variants = json::array();
  for (const auto& v : record.variants) variants.push_back(ToJson(v));
  return json{
      {"id", record.id},
      {"source_url", record.source_url},
      {"status", StatusName(record.status)},
      {"format", known ? json(f.format) : json()},
      {"width", known ? json(f.width) : json()},
      {"height", known ? json(f.height) : json()},
      {"bytes", known ? json(f.bytes) : json()},
      {"sha256", known ? json(f.sha256) : json()},
      {"metadata", record.metadata},
      {"variants", std::move(variants)},
      {"last_error", record.last_error.empty() ? json() : json(record.last_error)},
      {"created_at", Rfc3339(record.created)},
      {"updated_at", Rfc3339(record.updated)},
  };
}

std::string SerializeMetadata(const json& metadata) { return metadata.dump(); }

std::string SerializeVariants(const std::vector<Variant>& variants) {
  json out = json::array();
  for (const auto& v : variants) out.push_back(ToJson(v));
  return out.dump();
}

common::Result<json> ParseStoredMetadata(std::string_view text) {
  json metadata = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (metadata.is_discarded() || !metadata.is_object())
    return std::unexpected(Malformed("metadata"));
  return metadata;
}

common::Result<std::vector<Variant>> ParseStoredVariants(std::string_view text) {
  const json list = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!list.is_array()) return std::unexpected(Malformed("variants"));
  std::vector<Variant> out;
  for (const auto& item : list) {
    if (!item.is_object()) return std::unexpected(Malformed("variants"));
    auto text_field = [&item](const char* name, std::string* into) {
      auto it = item.find(name);
      if (it == item.end() || !it->is_string()) return false;
      *into = it->get<std::string>();
      return true;
    };
    auto int_field = [&item](const char* name, auto* into) {
      auto it = item.find(name);
      if (it == item.end() || !it->is_number_integer()) return false;
      const auto value = it->get<int64_t>();
      using T = std::remove_pointer_t<decltype(into)>;
      if (value < 0 || value > std::numeric_limits<T>::max()) return false;
      *into = static_cast<T>(value);
      return true;
    };
    Variant v;
    if (!text_field("preset", &v.preset) || !text_field("format", &v.format) ||
        !int_field("width", &v.width) || !int_field("height", &v.height) ||
        !int_field("bytes", &v.bytes) || !text_field("location", &v.location)) {
      return std::unexpected(Malformed("variants"));
    }
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace imgorigin::ingest
