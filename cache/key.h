// Cache keys: a fixed-size digest of everything that determines a variant's bytes.
//
// key = hex(SHA-256(version ‖ canonical source ‖ source generation ‖ canonical spec ‖ format
// [‖ cachebuster])). The URL signature is not part of it, so key rotation keeps the cache;
// equivalent URLs share a key because the spec is canonical. A cachebuster (imgproxy's "cb:")
// is, so that changing it renders again; without one the key is the same as before cachebusters
// counted. Pure function; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace imgorigin::cache {

// Bumped when the meaning of cached bytes changes (pipeline output, entry layout).
inline constexpr int kKeyVersion = 1;

std::string VariantKey(std::string_view source, uint64_t source_generation,
                       std::string_view canonical_spec, std::string_view output_format,
                       std::string_view cachebuster = {});

// The CDN cache tag naming every variant of `source` ("s-" + 16 hex digits of its SHA-256): safe
// in Cache-Tag, Surrogate-Key and similar headers whatever characters the source URL holds.
std::string SourceTag(std::string_view source);

}  // namespace imgorigin::cache
