#include "origin/dialects.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <optional>

#include "ingest/record.h"
#include "transforms/format.h"

namespace imgorigin::origin {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

constexpr std::string_view kSeed004Prefix = "/api/v1/img/";

bool Allowed(const std::vector<int>& list, int value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

std::optional<int> ParseInt(std::string_view text) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Record ids are UUIDs: hex digits and dashes.
bool IsId(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-';
  });
}

// The parameters of a query string, by name (sorted: the order seed 004's signature covers).
// Values are taken as they are: every parameter the dialects read is a number or a name that
// needs no escaping. A parameter given twice is an error: which one counts would be a guess.
Result<std::map<std::string, std::string, std::less<>>> QueryParams(std::string_view query) {
  std::map<std::string, std::string, std::less<>> params;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : item.substr(eq + 1);
    if (!params.emplace(std::string(key), std::string(value)).second) {
      return Fail(ErrorCode::kInvalidArgument, std::string(key) + ": given twice");
    }
  }
  return params;
}

}  // namespace

Result<void> DialectConfig::Validate() const {
  for (int size : sizes) {
    if (size < 1 || size > 100'000) return Fail(ErrorCode::kInvalidArgument, "sizes: 1 to 100000");
  }
  for (int rotation : rotations) {
    if (rotation % 90 != 0) {
      return Fail(ErrorCode::kInvalidArgument, "rotations: multiples of 90 only");
    }
  }
  for (int quality : qualities) {
    if (quality < 1 || quality > 100) {
      return Fail(ErrorCode::kInvalidArgument, "qualities: 1 to 100");
    }
  }
  if (fallback_cache_control.empty() ||
      fallback_cache_control.find_first_of("\r\n") != std::string::npos) {
    return Fail(ErrorCode::kInvalidArgument, "fallback_cache_control: one line, not empty");
  }
  return {};
}

Result<Seed004Request> ParseSeed004(std::string_view path, std::string_view query,
                                    const DialectConfig& config, const signing::Signer& signer) {
  if (!path.starts_with(kSeed004Prefix)) {
    return Fail(ErrorCode::kNotFound, "not found: /api/v1/img/{id}.{format}");
  }
  const std::string_view name = path.substr(kSeed004Prefix.size());
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || !IsId(name.substr(0, dot))) {
    return Fail(ErrorCode::kNotFound, "not found: /api/v1/img/{id}.{format}");
  }
  const auto format = transforms::FormatFromExtension(std::string(name.substr(dot + 1)));
  if (!format) {
    return Fail(ErrorCode::kInvalidArgument,
                "format: \"" + std::string(name.substr(dot + 1)) + "\" is not an image format");
  }

  auto parsed = QueryParams(query);
  if (!parsed) return std::unexpected(parsed.error());
  auto& params = *parsed;
  std::string signature;
  if (auto node = params.extract("s")) signature = std::move(node.mapped());

  for (const auto& [key, value] : params) {
    if (key != "thumbnail" && key != "width" && key != "height" && key != "rotate" &&
        key != "quality") {
      return Fail(ErrorCode::kInvalidArgument,
                  key + ": unknown parameter (thumbnail, width, height, rotate, quality, s)");
    }
  }
  // Each parameter as an integer in its range; 0 when absent (no parameter takes 0 to mean more
  // than nothing).
  std::string error;
  auto number = [&](std::string_view key, int min, int max) {
    const auto it = params.find(key);
    if (it == params.end()) return 0;
    const auto value = ParseInt(it->second);
    if (!value || *value < min || *value > max) {
      error = std::string(key) + ": expected an integer from " + std::to_string(min) + " to " +
              std::to_string(max);
      return 0;
    }
    return *value;
  };
  const int thumbnail = number("thumbnail", 1, 100'000);
  const int width = number("width", 1, 100'000);
  const int height = number("height", 1, 100'000);
  const int rotate = number("rotate", -360, 360);
  const int quality = number("quality", 1, 100);
  if (!error.empty()) return Fail(ErrorCode::kInvalidArgument, error);
  if (thumbnail && (width || height)) {
    return Fail(ErrorCode::kInvalidArgument, "thumbnail: give thumbnail or width/height, not both");
  }
  if (rotate % 90 != 0) return Fail(ErrorCode::kInvalidArgument, "rotate: right angles only");

  bool needs_signature = false;
  std::string options;
  if (thumbnail) {
    needs_signature |= !Allowed(config.sizes, thumbnail);
    options += "/rs:fit:" + std::to_string(thumbnail) + ":" + std::to_string(thumbnail);
  }
  if (width) {
    needs_signature |= !Allowed(config.sizes, width);
    options += "/w:" + std::to_string(width);
  }
  if (height) {
    needs_signature |= !Allowed(config.sizes, height);
    options += "/h:" + std::to_string(height);
  }
  if (params.contains("rotate")) {
    const int rotation = (rotate % 360 + 360) % 360;
    needs_signature |= !Allowed(config.rotations, rotation);
    if (rotation != 0) options += "/rot:" + std::to_string(rotation);
  }
  if (quality) {
    needs_signature |= !Allowed(config.qualities, quality);
    options += "/q:" + std::to_string(quality);
  }
  options += "/f:" + std::string(transforms::FormatExtension(*format));

  if (!signature.empty() || needs_signature) {
    std::string canonical(path);
    char separator = '?';
    for (const auto& [key, value] : params) {
      canonical += separator + key + "=" + value;
      separator = '&';
    }
    if (!signer.has_keys() || !signer.Verify(signature, canonical)) {
      return Fail(ErrorCode::kPermissionDenied,
                  needs_signature && signature.empty()
                      ? "a value outside the allowed sizes, rotations or qualities needs a "
                        "signature (s=)"
                      : "invalid signature");
    }
  }
  return Seed004Request{std::string(name.substr(0, dot)), std::move(options)};
}

Result<Seed002Request> ParseSeed002(std::string_view query,
                                    const std::map<std::string, std::string>& presets) {
  auto params = QueryParams(query);
  if (!params) return std::unexpected(params.error());
  for (const auto& [key, value] : *params) {
    if (key != "image_id" && key != "image_size") {
      return Fail(ErrorCode::kInvalidArgument, key + ": unknown parameter (image_id, image_size)");
    }
  }
  const auto id = params->find("image_id");
  if (id == params->end()) return Fail(ErrorCode::kInvalidArgument, "image_id: missing");
  std::string lower = id->second;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!ingest::ValidateId(lower)) {
    return Fail(ErrorCode::kInvalidArgument, "image_id: expected a UUID");
  }
  const auto size = params->find("image_size");
  if (size == params->end()) return Fail(ErrorCode::kInvalidArgument, "image_size: missing");
  if (size->second == "default" || !presets.contains(size->second)) {
    std::string names;
    for (const auto& [name, options] : presets) {
      if (name == "default") continue;
      names += (names.empty() ? "" : ", ") + name;
    }
    return Fail(ErrorCode::kInvalidArgument,
                "image_size: \"" + size->second + "\" is not a size (" + names + ")");
  }
  return Seed002Request{std::move(lower), size->second};
}

std::vector<std::string> FallbackOrder(const std::vector<PresetSize>& sizes,
                                       std::string_view wanted) {
  const auto at = std::find_if(sizes.begin(), sizes.end(), [wanted](const PresetSize& preset) {
    return preset.name == wanted;
  });
  std::vector<std::string> order;
  if (at == sizes.end()) return order;
  for (auto smaller = at; smaller != sizes.begin();) order.push_back((--smaller)->name);
  for (auto larger = at + 1; larger != sizes.end(); ++larger) order.push_back(larger->name);
  return order;
}

}  // namespace imgorigin::origin
