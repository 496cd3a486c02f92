#include "origin/config.h"

#include <algorithm>
#include <charconv>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <glib.h>
#include <sstream>
#include <map>
#include <memory>
#include <toml.hpp>
#include <vector>

#include "cache/redis_tier.h"
#include "ingest/originals_store.h"
#include "ingest/variants_store.h"
#include "signing/base64url.h"
#include "transforms/format.h"

namespace imgorigin::origin {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

Result<void> Invalid(std::string_view setting, std::string_view what) {
  return Fail(ErrorCode::kInvalidArgument, std::string(setting) + ": " + std::string(what));
}

template <typename Int>
Result<void> SetInt(Int& out, std::string_view setting, std::string_view text) {
  Int value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Invalid(setting, "expected a whole number, got \"" + std::string(text) + "\"");
  }
  out = value;
  return {};
}

Result<void> SetBool(bool& out, std::string_view setting, std::string_view text) {
  if (text == "true" || text == "1" || text == "yes") {
    out = true;
  } else if (text == "false" || text == "0" || text == "no") {
    out = false;
  } else {
    return Invalid(setting, "expected true or false, got \"" + std::string(text) + "\"");
  }
  return {};
}

Result<void> SetMs(std::chrono::milliseconds& out, std::string_view setting,
                   std::string_view text) {
  int64_t ms = 0;
  if (auto r = SetInt(ms, setting, text); !r) return r;
  out = std::chrono::milliseconds(ms);
  return {};
}

template <typename Int>
Result<void> SetSize(Int& out, std::string_view setting, std::string_view text) {
  auto size = ParseSize(text);
  if (!size) return Invalid(setting, size.error().message);
  out = static_cast<Int>(*size);
  return {};
}

std::vector<std::string> SplitList(std::string_view text);

// "avif=50, webp=79": an integer per format, replacing the defaults.
template <typename Int>
Result<void> SetPerFormat(std::map<transforms::ImageFormat, Int>& out, std::string_view setting,
                          std::string_view text, std::string_view what) {
  out.clear();
  for (const auto& item : SplitList(text)) {
    const size_t eq = item.find('=');
    auto format = transforms::FormatFromExtension(item.substr(0, eq));
    if (eq == std::string::npos || !format) {
      return Invalid(setting, "expected format=" + std::string(what) + ", got \"" + item + "\"");
    }
    if (auto r = SetInt(out[*format], setting, item.substr(eq + 1)); !r) return r;
  }
  return {};
}

Result<void> SetIntList(std::vector<int>& out, std::string_view setting, std::string_view text) {
  out.clear();
  for (const auto& item : SplitList(text)) {
    if (auto r = SetInt(out.emplace_back(), setting, item); !r) return r;
  }
  return {};
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> items;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) items.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

Result<void> SetFormatList(std::vector<transforms::ImageFormat>& out, std::string_view setting,
                           std::string_view text) {
  out.clear();
  for (const auto& name : SplitList(text)) {
    auto format = transforms::FormatFromExtension(name);
    if (!format) return Invalid(setting, "unknown format \"" + name + "\"");
    out.push_back(*format);
  }
  return {};
}

// Keys and salts are configured as parallel hex lists; the pairs are rebuilt after loading.
struct KeyLists {
  std::vector<std::string> keys;
  std::vector<std::string> salts;
};

Result<void> SetHexList(std::vector<std::string>& out, std::string_view setting,
                        std::string_view text) {
  out.clear();
  for (const auto& item : SplitList(text)) {
    auto bytes = signing::HexDecode(item);
    if (!bytes || bytes->empty()) return Invalid(setting, "expected hex-encoded bytes");
    out.push_back(*std::move(bytes));
  }
  return {};
}

// imgproxy's IMGPROXY_PRESETS format: "name=options,name=options".
Result<void> SetPresets(transforms::ParserConfig& parser, std::string_view setting,
                        std::string_view text) {
  for (const auto& item : SplitList(text)) {
    size_t eq = item.find('=');
    if (eq == 0 || eq == std::string::npos) {
      return Invalid(setting, "expected name=options, got \"" + item + "\"");
    }
    parser.presets[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return {};
}

struct Setting {
  std::string_view key;  // dotted file key
  std::string_view env;  // environment variable
  std::function<Result<void>(Config&, KeyLists&, std::string_view key, std::string_view)> set;
};

template <typename Field>
auto IntField(Field Config::*field) {
  return [field](Config& c, KeyLists&, std::string_view k, std::string_view v) {
    return SetInt(c.*field, k, v);
  };
}

// A comma-separated list (or TOML array) into a list member of a Config::Ingest member.
template <typename Group, typename Field>
auto ListField(Group Config::Ingest::*group, Field Group::*field) {
  return [group, field](Config& c, KeyLists&, std::string_view, std::string_view v) {
    (c.ingest.*group).*field = SplitList(v);
    return Result<void>();
  };
}

const std::vector<Setting>& Settings() {
  static const std::vector<Setting> settings = {
      {"server.bind", "IMGORIGIN_BIND",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         if (auto hp = ParseHostPort(v); !hp) return Invalid(k, hp.error().message);
         c.bind = v;
         return {};
       }},
      {"server.loops", "IMGORIGIN_LOOPS", IntField(&Config::loops)},
      {"server.workers", "IMGORIGIN_WORKERS", IntField(&Config::workers)},
      {"server.queue_size", "IMGORIGIN_QUEUE_SIZE", IntField(&Config::queue_size)},
      {"server.shutdown_timeout_ms", "IMGORIGIN_SHUTDOWN_TIMEOUT_MS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         int64_t ms = 0;
         if (auto r = SetInt(ms, k, v); !r) return r;
         c.shutdown_timeout = std::chrono::milliseconds(ms);
         return {};
       }},
      {"server.client_timeout_s", "IMGORIGIN_CLIENT_TIMEOUT_S",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         int64_t s = 0;
         if (auto r = SetInt(s, k, v); !r) return r;
         c.client_timeout = std::chrono::seconds(s);
         return {};
       }},
      {"server.header_timeout_ms", "IMGORIGIN_HEADER_TIMEOUT_MS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetMs(c.header_timeout, k, v);
       }},
      {"server.max_connections", "IMGORIGIN_MAX_CONNECTIONS", IntField(&Config::max_connections)},
      {"signing.key", "IMGORIGIN_KEY",
       [](Config&, KeyLists& l, std::string_view k, std::string_view v) {
         return SetHexList(l.keys, k, v);
       }},
      {"signing.salt", "IMGORIGIN_SALT",
       [](Config&, KeyLists& l, std::string_view k, std::string_view v) {
         return SetHexList(l.salts, k, v);
       }},
      {"signing.signature_size", "IMGORIGIN_SIGNATURE_SIZE",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetInt(c.signing.signature_size, k, v);
       }},
      {"signing.allow_unsigned", "IMGORIGIN_ALLOW_UNSIGNED",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetBool(c.signing.allow_unsigned, k, v);
       }},
      {"url.max_length", "IMGORIGIN_MAX_URL_LENGTH", IntField(&Config::max_url_length)},
      {"url.base_url", "IMGORIGIN_BASE_URL",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.parser.base_url = v;
         return {};
       }},
      {"url.presets_only", "IMGORIGIN_PRESETS_ONLY",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetBool(c.parser.only_presets, k, v);
       }},
      {"url.presets", "IMGORIGIN_PRESETS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetPresets(c.parser, k, v);
       }},
      {"limits.max_src_bytes", "IMGORIGIN_MAX_SRC_BYTES",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         auto size = ParseSize(v);
         if (!size) return Invalid(k, size.error().message);
         c.max_src_bytes = *size;
         return {};
       }},
      {"limits.max_src_pixels", "IMGORIGIN_MAX_SRC_PIXELS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetInt(c.pipeline.max_src_pixels, k, v);
       }},
      {"limits.max_result_dimension", "IMGORIGIN_MAX_RESULT_DIMENSION",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         if (auto r = SetInt(c.pipeline.max_result_dimension, k, v); !r) return r;
         c.parser.max_dimension = c.pipeline.max_result_dimension;
         return {};
       }},
      {"limits.processing_timeout_ms", "IMGORIGIN_PROCESSING_TIMEOUT_MS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         int64_t ms = 0;
         if (auto r = SetInt(ms, k, v); !r) return r;
         c.pipeline.timeout = std::chrono::milliseconds(ms);
         return {};
       }},
      {"limits.max_animation_frames", "IMGORIGIN_MAX_ANIMATION_FRAMES",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetInt(c.pipeline.max_animation_frames, k, v);
       }},
      {"limits.max_jpeg_scans", "IMGORIGIN_MAX_JPEG_SCANS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetInt(c.pipeline.max_jpeg_scans, k, v);
       }},
      {"limits.max_render_memory", "IMGORIGIN_MAX_RENDER_MEMORY",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetSize(c.pipeline.max_render_memory, k, v);
       }},
      {"limits.render_memory_budget", "IMGORIGIN_RENDER_MEMORY_BUDGET",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetSize(c.render_memory_budget, k, v);
       }},
      {"limits.max_result_pixels", "IMGORIGIN_MAX_RESULT_PIXELS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetPerFormat(c.pipeline.max_result_pixels, k, v, "pixels");
       }},
      {"output.auto_format", "IMGORIGIN_AUTO_FORMAT",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetFormatList(c.formats.preferred, k, v);
       }},
      {"output.client_hints", "IMGORIGIN_CLIENT_HINTS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetBool(c.client_hints, k, v);
       }},
      {"output.quality", "IMGORIGIN_QUALITY",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetInt(c.pipeline.quality, k, v);
       }},
      {"output.format_quality", "IMGORIGIN_FORMAT_QUALITY",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetPerFormat(c.pipeline.format_quality, k, v, "quality");
       }},
      {"output.jpeg_progressive", "IMGORIGIN_JPEG_PROGRESSIVE",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetBool(c.pipeline.jpeg_progressive, k, v);
       }},
      {"output.png_interlaced", "IMGORIGIN_PNG_INTERLACED",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetBool(c.pipeline.png_interlaced, k, v);
       }},
      {"output.watermark_path", "IMGORIGIN_WATERMARK_PATH",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.pipeline.watermark_path = v;
         return {};
       }},
      {"cache.memory_size", "IMGORIGIN_MEMORY_CACHE_SIZE",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         auto size = ParseSize(v);
         if (!size) return Invalid(k, size.error().message);
         c.memory.capacity_bytes = static_cast<size_t>(*size);
         return {};
       }},
      // Tiers below memory, purge and fleet-wide coalescing (docs/cache.md).
      {"cache.redis_url", "IMGORIGIN_REDIS_URL",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.redis_url = v;
         return {};
       }},
      {"cache.memcached_servers", "IMGORIGIN_MEMCACHED_SERVERS",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.memcached_servers = v;
         return {};
       }},
      {"cache.memcached_max_item", "IMGORIGIN_MEMCACHED_MAX_ITEM",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetSize(c.memcached_max_item, k, v);
       }},
      {"cache.disk_dir", "IMGORIGIN_DISK_CACHE_DIR",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.disk_cache_dir = v;
         return {};
       }},
      {"cache.disk_size", "IMGORIGIN_DISK_CACHE_SIZE",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetSize(c.disk_cache_size, k, v);
       }},
      {"cache.key_prefix", "IMGORIGIN_CACHE_KEY_PREFIX",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.cache_key_prefix = v;
         return {};
       }},
      {"cache.ttl_s", "IMGORIGIN_CACHE_TTL_S",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         int64_t s = 0;
         if (auto r = SetInt(s, k, v); !r) return r;
         c.tiers.ttl = std::chrono::seconds(s);
         return {};
       }},
      {"cache.shared_timeout_ms", "IMGORIGIN_SHARED_CACHE_TIMEOUT_MS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetMs(c.shared_timeout, k, v);
       }},
      {"cache.io_threads", "IMGORIGIN_CACHE_IO_THREADS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetInt(c.tiers.io_threads, k, v);
       }},
      {"cache.lease_ttl_ms", "IMGORIGIN_LEASE_TTL_MS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetMs(c.tiers.lease_ttl, k, v);
       }},
      {"cache.lease_wait_ms", "IMGORIGIN_LEASE_WAIT_MS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetMs(c.tiers.lease_wait, k, v);
       }},
      {"cache.lease_poll_ms", "IMGORIGIN_LEASE_POLL_MS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetMs(c.tiers.lease_poll, k, v);
       }},
      {"cache.generation_poll_ms", "IMGORIGIN_GENERATION_POLL_MS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetMs(c.tiers.generation_poll, k, v);
       }},
      {"cache.breaker_failures", "IMGORIGIN_CACHE_BREAKER_FAILURES",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetInt(c.tiers.breaker_failures, k, v);
       }},
      {"cache.breaker_cooldown_ms", "IMGORIGIN_CACHE_BREAKER_COOLDOWN_MS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetMs(c.tiers.breaker_cooldown, k, v);
       }},
      {"cache.s3_result_bucket", "IMGORIGIN_S3_RESULT_BUCKET",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.s3_results.bucket = v;
         return {};
       }},
      {"cache.s3_result_prefix", "IMGORIGIN_S3_RESULT_PREFIX",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.s3_results.prefix = v;
         return {};
       }},
      {"cache.s3_result_region", "IMGORIGIN_S3_RESULT_REGION",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.s3_results.region = v;
         return {};
       }},
      {"cache.s3_result_endpoint", "IMGORIGIN_S3_RESULT_ENDPOINT",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.s3_results.endpoint = v;
         return {};
       }},
      {"cache.s3_result_timeout_ms", "IMGORIGIN_S3_RESULT_TIMEOUT_MS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetMs(c.s3_results.timeout, k, v);
       }},
      {"api.key", "IMGORIGIN_API_KEY",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.api_key = v;
         return {};
       }},
      {"source.local_root", "IMGORIGIN_LOCAL_ROOT",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.local_root = v;
         return {};
       }},
      // Network sources (docs/sources.md).
      {"server.io_threads", "IMGORIGIN_IO_THREADS", IntField(&Config::io_threads)},
      {"server.io_queue_size", "IMGORIGIN_IO_QUEUE_SIZE", IntField(&Config::io_queue_size)},
      {"source.connect_timeout_ms", "IMGORIGIN_SOURCE_CONNECT_TIMEOUT_MS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetMs(c.fetch.connect_timeout, k, v);
       }},
      {"source.timeout_ms", "IMGORIGIN_SOURCE_TIMEOUT_MS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetMs(c.fetch.timeout, k, v);
       }},
      {"source.retries", "IMGORIGIN_SOURCE_RETRIES",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetInt(c.fetch.retries, k, v);
       }},
      {"source.retry_backoff_ms", "IMGORIGIN_SOURCE_RETRY_BACKOFF_MS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetMs(c.fetch.retry_backoff, k, v);
       }},
      {"source.temp_dir", "IMGORIGIN_SOURCE_TEMP_DIR",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.fetch.temp_dir = v;
         return {};
       }},
      {"limits.stream_to_file_bytes", "IMGORIGIN_STREAM_TO_FILE_BYTES",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetSize(c.fetch.stream_to_file_bytes, k, v);
       }},
      {"s3.enabled", "IMGORIGIN_S3_ENABLED",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetBool(c.s3.enabled, k, v);
       }},
      {"s3.region", "IMGORIGIN_S3_REGION",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.s3.region = v;
         return {};
       }},
      {"s3.endpoint", "IMGORIGIN_S3_ENDPOINT",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.s3.endpoint = v;
         return {};
       }},
      {"s3.path_style", "IMGORIGIN_S3_PATH_STYLE",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetBool(c.s3.path_style, k, v);
       }},
      {"s3.allowed_buckets", "IMGORIGIN_S3_ALLOWED_BUCKETS",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.s3.allowed_buckets = SplitList(v);
         return {};
       }},
      {"http.enabled", "IMGORIGIN_HTTP_ENABLED",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetBool(c.http.enabled, k, v);
       }},
      {"http.allowed_prefixes", "IMGORIGIN_HTTP_ALLOWED_PREFIXES",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.http.allowed_prefixes = SplitList(v);
         return {};
       }},
      {"http.allow_private_networks", "IMGORIGIN_HTTP_ALLOW_PRIVATE_NETWORKS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetBool(c.http.allow_private_networks, k, v);
       }},
      {"http.allowed_networks", "IMGORIGIN_HTTP_ALLOWED_NETWORKS",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.http.allowed_networks = SplitList(v);
         return {};
       }},
      {"http.max_redirects", "IMGORIGIN_HTTP_MAX_REDIRECTS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetInt(c.http.max_redirects, k, v);
       }},
      {"source_cache.memory_size", "IMGORIGIN_SOURCE_CACHE_MEMORY_SIZE",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetSize(c.source_cache.memory_bytes, k, v);
       }},
      {"source_cache.disk_dir", "IMGORIGIN_SOURCE_CACHE_DIR",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.source_cache.disk_dir = v;
         return {};
       }},
      {"source_cache.disk_size", "IMGORIGIN_SOURCE_CACHE_DISK_SIZE",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetSize(c.source_cache.disk_bytes, k, v);
       }},
      {"source_cache.ttl_s", "IMGORIGIN_SOURCE_CACHE_TTL_S",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         int64_t s = 0;
         if (auto r = SetInt(s, k, v); !r) return r;
         c.source_cache.ttl = std::chrono::seconds(s);
         return {};
       }},
      {"headers.cache_control", "IMGORIGIN_CACHE_CONTROL",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.cache_control = v;
         return {};
       }},
      {"headers.cache_tag_header", "IMGORIGIN_CACHE_TAG_HEADER",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.cache_tag_header = v;
         return {};
       }},
      {"headers.not_found_max_age", "IMGORIGIN_NOT_FOUND_MAX_AGE",
       IntField(&Config::not_found_max_age)},
      // Uploads, records and originals (docs/ingest.md).
      {"ingest.enabled", "IMGORIGIN_INGEST_ENABLED",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetBool(c.ingest.enabled, k, v);
       }},
      {"ingest.data_dir", "IMGORIGIN_DATA_DIR",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.ingest.data_dir = v;
         return {};
       }},
      {"ingest.records", "IMGORIGIN_RECORDS",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.ingest.records = v;
         return {};
       }},
      {"ingest.originals", "IMGORIGIN_ORIGINALS",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.ingest.originals = v;
         return {};
       }},
      {"ingest.originals_dir", "IMGORIGIN_ORIGINALS_DIR",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.ingest.originals_dir = v;
         return {};
       }},
      {"ingest.sse", "IMGORIGIN_ORIGINALS_SSE",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.ingest.sse = v;
         return {};
       }},
      {"ingest.sse_kms_key_id", "IMGORIGIN_ORIGINALS_SSE_KMS_KEY_ID",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.ingest.sse_kms_key_id = v;
         return {};
       }},
      {"ingest.max_upload_bytes", "IMGORIGIN_MAX_UPLOAD_BYTES",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetSize(c.ingest.upload.max_upload_bytes, k, v);
       }},
      {"ingest.max_metadata_bytes", "IMGORIGIN_MAX_METADATA_BYTES",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetSize(c.ingest.upload.max_metadata_bytes, k, v);
       }},
      {"ingest.upload_timeout_ms", "IMGORIGIN_UPLOAD_TIMEOUT_MS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetMs(c.ingest.upload_timeout, k, v);
       }},
      {"ingest.public_url", "IMGORIGIN_PUBLIC_URL",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.ingest.public_url = v;
         return {};
       }},
      {"ingest.presign_expiry_s", "IMGORIGIN_PRESIGN_EXPIRY_S",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         int64_t s = 0;
         if (auto r = SetInt(s, k, v); !r) return r;
         c.ingest.upload.presign_expiry = std::chrono::seconds(s);
         return {};
       }},
      {"ingest.eager", "IMGORIGIN_EAGER",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.ingest.eager = SplitList(v);
         return {};
       }},
      {"ingest.eager_formats", "IMGORIGIN_EAGER_FORMATS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetFormatList(c.ingest.eager_formats, k, v);
       }},
      {"ingest.variants_store", "IMGORIGIN_VARIANTS_STORE",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.ingest.variants_store = v;
         return {};
       }},
      {"ingest.presign_max_expiry_s", "IMGORIGIN_PRESIGN_MAX_EXPIRY_S",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         int64_t s = 0;
         if (auto r = SetInt(s, k, v); !r) return r;
         c.ingest.upload.presign_max_expiry = std::chrono::seconds(s);
         return {};
       }},
      // The seeds' URL dialects (origin/dialects.h).
      {"dialects.seed004", "IMGORIGIN_DIALECT_SEED004",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetBool(c.dialects.seed004, k, v);
       }},
      {"dialects.seed002", "IMGORIGIN_DIALECT_SEED002",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetBool(c.dialects.seed002, k, v);
       }},
      {"dialects.sizes", "IMGORIGIN_DIALECT_SIZES",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetIntList(c.dialects.sizes, k, v);
       }},
      {"dialects.rotations", "IMGORIGIN_DIALECT_ROTATIONS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetIntList(c.dialects.rotations, k, v);
       }},
      {"dialects.qualities", "IMGORIGIN_DIALECT_QUALITIES",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetIntList(c.dialects.qualities, k, v);
       }},
      {"dialects.fallback_cache_control", "IMGORIGIN_DIALECT_FALLBACK_CACHE_CONTROL",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.dialects.fallback_cache_control = v;
         return {};
       }},
      // S3 event notifications: which objects matter (ingest/s3_event.h).
      {"ingest.events.buckets", "IMGORIGIN_EVENTS_BUCKETS",
       ListField(&Config::Ingest::events, &ingest::S3EventFilter::buckets)},
      {"ingest.events.prefixes", "IMGORIGIN_EVENTS_PREFIXES",
       ListField(&Config::Ingest::events, &ingest::S3EventFilter::prefixes)},
      {"ingest.events.suffixes", "IMGORIGIN_EVENTS_SUFFIXES",
       ListField(&Config::Ingest::events, &ingest::S3EventFilter::suffixes)},
      // Webhooks and SNS (ingest/notifications.h).
      {"notifications.webhook_urls", "IMGORIGIN_WEBHOOK_URLS",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.notifications.webhook_urls = SplitList(v);
         return {};
       }},
      {"notifications.webhook_secrets", "IMGORIGIN_WEBHOOK_SECRETS",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.notifications.webhook_secrets = SplitList(v);
         return {};
       }},
      {"notifications.events", "IMGORIGIN_NOTIFY_EVENTS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         c.notifications.events.clear();
         for (const auto& name : SplitList(v)) {
           auto type = ingest::ParseEventType(name);
           if (!type) return Invalid(k, "unknown event type \"" + name + "\"");
           c.notifications.events.push_back(*type);
         }
         return {};
       }},
      {"notifications.connect_timeout_ms", "IMGORIGIN_WEBHOOK_CONNECT_TIMEOUT_MS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetMs(c.notifications.connect_timeout, k, v);
       }},
      {"notifications.timeout_ms", "IMGORIGIN_WEBHOOK_TIMEOUT_MS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetMs(c.notifications.timeout, k, v);
       }},
      {"notifications.sns_topic_arn", "IMGORIGIN_SNS_TOPIC_ARN",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.notifications.sns_topic_arn = v;
         return {};
       }},
      // The job queue and its workers (ingest/job_queue.h, ingest/worker.h).
      {"jobs.queue", "IMGORIGIN_JOBS_QUEUE",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.jobs.queue = v;
         return {};
       }},
      {"jobs.sqs_jobs_queue", "IMGORIGIN_SQS_JOBS_QUEUE",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.jobs.sqs_jobs_queue = v;
         return {};
       }},
      {"jobs.sqs_notify_queue", "IMGORIGIN_SQS_NOTIFY_QUEUE",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.jobs.sqs_notify_queue = v;
         return {};
       }},
      {"jobs.sqs_events_queue", "IMGORIGIN_SQS_EVENTS_QUEUE",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.jobs.sqs_events_queue = v;
         return {};
       }},
      {"jobs.sqs_endpoint", "IMGORIGIN_SQS_ENDPOINT",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.jobs.sqs_endpoint = v;
         return {};
       }},
      {"jobs.sns_endpoint", "IMGORIGIN_SNS_ENDPOINT",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.jobs.sns_endpoint = v;
         return {};
       }},
      {"jobs.in_serve", "IMGORIGIN_JOBS_IN_SERVE",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetBool(c.jobs.in_serve, k, v);
       }},
      {"jobs.threads", "IMGORIGIN_JOBS_THREADS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetInt(c.jobs.worker.threads, k, v);
       }},
      {"jobs.visibility_s", "IMGORIGIN_JOBS_VISIBILITY_S",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         int64_t s = 0;
         if (auto r = SetInt(s, k, v); !r) return r;
         c.jobs.worker.visibility = std::chrono::seconds(s);
         return {};
       }},
      {"jobs.max_attempts", "IMGORIGIN_JOBS_MAX_ATTEMPTS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetInt(c.jobs.worker.max_attempts, k, v);
       }},
      {"jobs.backoff_base_ms", "IMGORIGIN_JOBS_BACKOFF_BASE_MS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetMs(c.jobs.worker.backoff_base, k, v);
       }},
      {"jobs.backoff_max_ms", "IMGORIGIN_JOBS_BACKOFF_MAX_MS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetMs(c.jobs.worker.backoff_max, k, v);
       }},
      {"jobs.poll_wait_ms", "IMGORIGIN_JOBS_POLL_WAIT_MS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetMs(c.jobs.worker.poll_wait, k, v);
       }},
      {"jobs.reconcile_after_s", "IMGORIGIN_JOBS_RECONCILE_AFTER_S",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         int64_t s = 0;
         if (auto r = SetInt(s, k, v); !r) return r;
         c.jobs.reconcile_after = std::chrono::seconds(s);
         return {};
       }},
      {"batch.max_src_pixels", "IMGORIGIN_BATCH_MAX_SRC_PIXELS",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetInt(c.batch.max_src_pixels, k, v);
       }},
      {"batch.max_src_bytes", "IMGORIGIN_BATCH_MAX_SRC_BYTES",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetSize(c.batch.max_src_bytes, k, v);
       }},
      {"batch.timeout_s", "IMGORIGIN_BATCH_TIMEOUT_S",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         int64_t s = 0;
         if (auto r = SetInt(s, k, v); !r) return r;
         c.batch.timeout = std::chrono::seconds(s);
         return {};
       }},
      {"batch.temp_dir", "IMGORIGIN_BATCH_TEMP_DIR",
       [](Config& c, KeyLists&, std::string_view, std::string_view v) -> Result<void> {
         c.batch.temp_dir = v;
         return {};
       }},
  };
  return settings;
}

// TOML scalars and arrays of scalars as the text an environment variable would hold.
Result<std::string> TomlText(const toml::value& v, std::string_view key) {
  switch (v.type()) {
    case toml::value_t::string:
      return v.as_string().str;
    case toml::value_t::integer:
      return std::to_string(v.as_integer());
    case toml::value_t::boolean:
      return std::string(v.as_boolean() ? "true" : "false");
    case toml::value_t::array: {
      std::string joined;
      for (const auto& item : v.as_array()) {
        auto text = TomlText(item, key);
        if (!text) return text;
        if (!joined.empty()) joined += ',';
        joined += *text;
      }
      return joined;
    }
    default:
      return Fail(ErrorCode::kInvalidArgument,
                  std::string(key) + ": expected a string, number, boolean or list");
  }
}

// The settings of one [section] (or nested [section.group], e.g. [ingest.events]).
Result<void> ApplyTable(const toml::value& table, const std::string& prefix, Config& config,
                        KeyLists& lists) {
  for (const auto& [name, value] : table.as_table()) {
    const std::string key = prefix + "." + name;
    if (value.is_table()) {
      const bool known = std::any_of(Settings().begin(), Settings().end(), [&](const Setting& s) {
        return s.key.starts_with(key + ".");
      });
      if (!known) return Invalid(key, "unknown section");
      if (auto r = ApplyTable(value, key, config, lists); !r) return r;
      continue;
    }
    auto it = std::find_if(Settings().begin(), Settings().end(),
                           [&](const Setting& s) { return s.key == key; });
    if (it == Settings().end()) return Invalid(key, "unknown setting");
    auto text = TomlText(value, key);
    if (!text) return std::unexpected(text.error());
    if (auto r = it->set(config, lists, key, *text); !r) return r;
  }
  return {};
}

Result<void> ApplyFile(const std::string& path, Config& config, KeyLists& lists) {
  // TOML is UTF-8. Checked here because Debian's toml11 (3.7.1) reads past its buffer on a
  // literal string holding invalid UTF-8 (toml11 issue 199, found again by fuzz_config).
  constexpr std::streamsize kMaxConfigBytes = 1 << 20;
  std::ifstream file(path, std::ios::binary);
  if (!file) return Fail(ErrorCode::kInvalidArgument, "cannot read config: cannot open " + path);
  std::string text(kMaxConfigBytes + 1, '\0');
  file.read(text.data(), kMaxConfigBytes + 1);
  if (file.bad()) return Fail(ErrorCode::kInvalidArgument, "cannot read config: " + path);
  text.resize(static_cast<size_t>(file.gcount()));
  if (text.size() > static_cast<size_t>(kMaxConfigBytes)) {
    return Fail(ErrorCode::kInvalidArgument, path + ": larger than 1 MiB");
  }
  const char* invalid = nullptr;
  if (!g_utf8_validate(text.data(), static_cast<gssize>(text.size()), &invalid)) {
    return Fail(ErrorCode::kInvalidArgument,
                path + ": not valid UTF-8 at byte " + std::to_string(invalid - text.data()));
  }
  toml::value root;
  try {
    std::istringstream stream(std::move(text));
    root = toml::parse(stream, path);
  } catch (const std::exception& e) {
    // toml11's message names the file, line and column: exactly what the operator needs.
    return Fail(ErrorCode::kInvalidArgument, std::string("cannot read config: ") + e.what());
  }
  if (!root.is_table()) return Fail(ErrorCode::kInvalidArgument, path + ": not a TOML table");
  for (const auto& [section, table] : root.as_table()) {
    if (section == "presets") {
      if (!table.is_table()) return Invalid("presets", "expected a table of name = \"options\"");
      for (const auto& [name, options] : table.as_table()) {
        if (!options.is_string()) return Invalid("presets." + name, "expected a string");
        config.parser.presets[name] = options.as_string().str;
      }
      continue;
    }
    if (!table.is_table()) return Invalid(section, "expected a [section]");
    if (auto r = ApplyTable(table, section, config, lists); !r) return r;
  }
  return {};
}

}  // namespace

std::vector<std::pair<std::string_view, std::string_view>> SettingNames() {
  std::vector<std::pair<std::string_view, std::string_view>> names;
  for (const auto& setting : Settings()) names.emplace_back(setting.key, setting.env);
  return names;
}

std::optional<std::string> ProcessEnv(std::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

Result<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view bind) {
  size_t colon = bind.rfind(':');
  if (colon == std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument,
                "expected host:port, got \"" + std::string(bind) + "\"");
  }
  std::string_view host = bind.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  uint16_t port = 0;
  std::string_view port_text = bind.substr(colon + 1);
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size()) {
    return Fail(ErrorCode::kInvalidArgument, "bad port in \"" + std::string(bind) + "\"");
  }
  return std::pair{std::string(host), port};
}

Result<int64_t> ParseSize(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || value < 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "expected a size such as 64MiB, got \"" + std::string(text) + "\"");
  }
  std::string unit(end, text.data() + text.size());
  std::transform(unit.begin(), unit.end(), unit.begin(), ::tolower);
  static constexpr std::pair<std::string_view, int64_t> kUnits[] = {
      {"", 1},
      {"b", 1},
      {"k", 1ll << 10},
      {"kb", 1000},
      {"kib", 1ll << 10},
      {"m", 1ll << 20},
      {"mb", 1000'000},
      {"mib", 1ll << 20},
      {"g", 1ll << 30},
      {"gb", 1000'000'000},
      {"gib", 1ll << 30},
  };
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) {
      if (value > INT64_MAX / factor) break;
      return value * factor;
    }
  }
  return Fail(ErrorCode::kInvalidArgument, "unknown size \"" + std::string(text) + "\"");
}

Result<void> Config::Validate() const {
  if (auto hp = ParseHostPort(bind); !hp) return Invalid("server.bind", hp.error().message);
  if (queue_size > 100'000) return Invalid("server.queue_size", "at most 100000");
  if (header_timeout.count() <= 0) return Invalid("server.header_timeout_ms", "must be > 0");
  if (max_connections == 0) return Invalid("server.max_connections", "must be > 0");
  if (max_url_length < 64) return Invalid("url.max_length", "at least 64");
  if (max_src_bytes <= 0) return Invalid("limits.max_src_bytes", "must be positive");
  if (cache_tag_header.find_first_of(" :\r\n") != std::string::npos) {
    return Invalid("headers.cache_tag_header", "not a valid header name");
  }
  if (cache_control.find_first_of("\r\n") != std::string::npos) {
    return Invalid("headers.cache_control", "must be one line");
  }
  if (not_found_max_age < 0) return Invalid("headers.not_found_max_age", "must be >= 0");
  if (auto r = signing.Validate(); !r) return Invalid("signing", r.error().message);
  if (auto r = parser.Validate(); !r) return Invalid("presets", r.error().message);
  if (auto r = pipeline.Validate(); !r) return Invalid("limits", r.error().message);
  if (auto r = formats.Validate(); !r) return Invalid("output.auto_format", r.error().message);
  if (auto r = memory.Validate(); !r) return Invalid("cache", r.error().message);
  if (auto r = tiers.Validate(); !r) return Invalid("cache", r.error().message);
  if (!redis_url.empty() && !memcached_servers.empty()) {
    return Invalid("cache", "configure Redis or memcached as the shared tier, not both");
  }
  if (!redis_url.empty()) {
    if (auto r = cache::RedisUrl::Parse(redis_url); !r) {
      return Invalid("cache.redis_url", r.error().message);
    }
  }
  if (batch.max_src_pixels <= 0) return Invalid("batch.max_src_pixels", "must be > 0");
  if (batch.max_src_bytes <= 0) return Invalid("batch.max_src_bytes", "must be > 0");
  if (batch.timeout.count() <= 0) return Invalid("batch.timeout_s", "must be > 0");
  if (shared_timeout.count() <= 0) return Invalid("cache.shared_timeout_ms", "must be > 0");
  if (!disk_cache_dir.empty() && disk_cache_size <= 0) {
    return Invalid("cache.disk_size", "must be > 0");
  }
  if (memcached_max_item <= 0) return Invalid("cache.memcached_max_item", "must be > 0");
  if (auto r = s3_results.Validate(); !r) return Invalid("cache.s3_result", r.error().message);
  if (api_key.find_first_of(" \r\n") != std::string::npos) {
    return Invalid("api.key", "must not contain spaces or line breaks");
  }
  if (io_threads == 0 || io_threads > 1024) return Invalid("server.io_threads", "1 to 1024");
  if (auto r = fetch.Validate(); !r) return Invalid("source", r.error().message);
  if (auto r = s3.Validate(); !r) return Invalid("s3", r.error().message);
  if (auto r = http.Validate(); !r) return Invalid("http", r.error().message);
  if (auto r = source_cache.Validate(); !r) return Invalid("source_cache", r.error().message);
  if (auto r = notifications.Validate(); !r) return Invalid("notifications", r.error().message);
  if (auto r = jobs.worker.Validate(); !r) return Invalid("jobs", r.error().message);
  if (jobs.queue != "sqlite" && jobs.queue != "sqs" && !jobs.queue.starts_with("redis://")) {
    return Invalid("jobs.queue", "\"sqlite\", \"sqs\" or a redis:// URL");
  }
  if (jobs.queue == "sqs" && (jobs.sqs_jobs_queue.empty() || jobs.sqs_notify_queue.empty())) {
    return Invalid("jobs.queue", "\"sqs\" needs jobs.sqs_jobs_queue and jobs.sqs_notify_queue");
  }
  if (!jobs.sqs_events_queue.empty() && jobs.queue != "sqs") {
    return Invalid("jobs.sqs_events_queue", "is read with jobs.queue = \"sqs\"");
  }
  if (jobs.reconcile_after.count() < 0) return Invalid("jobs.reconcile_after_s", "must be >= 0");
  if (notifications.enabled() && !ingest.enabled) {
    return Invalid("notifications", "events come from ingest: set ingest.enabled");
  }
  if (auto r = ingest.events.Validate(); !r) return Invalid("ingest.events", r.error().message);
  if (auto r = ValidateEager(); !r) return r;
  if (ingest.enabled) {
    if (api_key.empty()) {
      return Invalid("ingest.enabled", "uploads need api.key (their Bearer token)");
    }
    if (ingest.data_dir.empty() && ingest.records == "sqlite") {
      return Invalid("ingest.data_dir", "SQLite records need a data directory");
    }
    if (ingest.records.empty()) {
      return Invalid("ingest.records", "\"sqlite\" or a PostgreSQL connection string");
    }
    if (auto r = ingest.upload.Validate(); !r) return Invalid("ingest", r.error().message);
    if (auto r = dialects.Validate(); !r) return Invalid("dialects", r.error().message);
    if (ingest.upload_timeout.count() <= 0) {
      return Invalid("ingest.upload_timeout_ms", "must be > 0");
    }
    if (!ingest.public_url.empty() &&
        ((!ingest.public_url.starts_with("http://") &&
          !ingest.public_url.starts_with("https://")) ||
         ingest.public_url.ends_with("/") ||
         ingest.public_url.find_first_of("?# \r\n") != std::string::npos)) {
      return Invalid("ingest.public_url", "http(s)://host[:port][/path], without a trailing /");
    }
    if (ingest.originals == "local") {
      if (local_root.empty()) {
        return Invalid("ingest.originals",
                       "local originals are rendered as local:/// sources: set source.local_root");
      }
      if (!ingest.sse.empty() || !ingest.sse_kms_key_id.empty()) {
        return Invalid("ingest.sse", "server-side encryption is for s3:// originals");
      }
    } else {
      auto location = ingest::S3OriginalsStore::ParseLocation(ingest.originals);
      if (!location) {
        return Invalid("ingest.originals",
                       "\"local\" or s3://bucket/prefix/: " + location.error().message);
      }
      location->sse = ingest.sse;
      location->sse_kms_key_id = ingest.sse_kms_key_id;
      if (auto r = location->Validate(); !r) return Invalid("ingest.sse", r.error().message);
      if (!s3.enabled) {
        return Invalid("ingest.originals",
                       "s3:// originals are rendered as s3:// sources: set s3.enabled");
      }
      if (!s3.allowed_buckets.empty() &&
          std::find(s3.allowed_buckets.begin(), s3.allowed_buckets.end(), location->bucket) ==
              s3.allowed_buckets.end()) {
        return Invalid("ingest.originals", "the bucket is not in s3.allowed_buckets");
      }
    }
  }
  return {};
}

Result<void> Config::ValidateEager() const {
  for (const auto& name : ingest.eager) {
    if (!parser.presets.contains(name)) {
      return Invalid("ingest.eager", "\"" + name + "\" is not a configured preset");
    }
    // Preset names become object names in the variants store.
    if (!ingest::ValidateVariantName(name, "jpg")) {
      return Invalid("ingest.eager", "\"" + name +
                                         "\" cannot name a variant object: use letters, digits, "
                                         "-, _ and . (not first)");
    }
  }
  for (const auto format : ingest.eager_formats) {
    if (std::find(formats.preferred.begin(), formats.preferred.end(), format) ==
        formats.preferred.end()) {
      return Invalid("ingest.eager_formats",
                     std::string(transforms::FormatExtension(format)) +
                         " is not in output.auto_format, so no request would be answered with it");
    }
  }
  if (ingest.variants_store.starts_with("s3://")) {
    if (auto location = ingest::S3Location::Parse(ingest.variants_store); !location) {
      return Invalid("ingest.variants_store", location.error().message);
    }
    if (!s3.enabled) return Invalid("ingest.variants_store", "s3:// variants need s3.enabled");
  } else if (ingest.variants_store.find("://") != std::string::npos) {
    return Invalid("ingest.variants_store", "a directory or s3://bucket/prefix/");
  }
  return {};
}

namespace {

// Half the memory renders could use: the machine's, or the container's when it is smaller.
int64_t DefaultRenderMemoryBudget() {
  int64_t memory = int64_t{sysconf(_SC_PHYS_PAGES)} * sysconf(_SC_PAGE_SIZE);
  // cgroup v2: "max" or a byte count. A container's limit is what the kernel enforces.
  std::ifstream cgroup("/sys/fs/cgroup/memory.max");
  int64_t limit = 0;
  if (cgroup >> limit && limit > 0) memory = std::min(memory, limit);
  return std::max<int64_t>(memory / 2, int64_t{256} << 20);
}

}  // namespace

Result<Config> LoadConfig(const std::string& path, const EnvLookup& env) {
  Config config;
  KeyLists lists;
  if (!path.empty()) {
    if (auto r = ApplyFile(path, config, lists); !r) return std::unexpected(r.error());
  }
  for (const auto& setting : Settings()) {
    if (auto value = env(setting.env)) {
      if (auto r = setting.set(config, lists, setting.env, *value); !r) {
        return std::unexpected(r.error());
      }
    }
  }
  if (lists.keys.size() != lists.salts.size()) {
    return Fail(ErrorCode::kInvalidArgument,
                "signing: IMGORIGIN_KEY and IMGORIGIN_SALT must list the same number of values");
  }
  for (size_t i = 0; i < lists.keys.size(); ++i) {
    config.signing.keys.push_back({lists.keys[i], lists.salts[i]});
  }
  if (auto r = config.pipeline.LoadWatermark(); !r) {
    return Fail(ErrorCode::kInvalidArgument, "output.watermark_path: " + r.error().message);
  }
  config.parser.watermark_configured = !config.pipeline.watermark_data.empty();
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  if (config.render_memory_budget == 0) config.render_memory_budget = DefaultRenderMemoryBudget();
  config.pipeline.memory_budget =
      std::make_shared<common::MemoryBudget>(config.render_memory_budget);
  return config;
}

}  // namespace imgorigin::origin
