#include "origin/config.h"

#include <glib.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
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

struct Setting;
const std::vector<Setting>& Settings();
std::string NameSetting(std::string_view setting, std::string_view what,
                        const Config* config = nullptr);

// Every error names the setting both ways: "limits.max_src_bytes (IMGORIGIN_MAX_SRC_BYTES): …".
Result<void> Invalid(std::string_view setting, std::string_view what) {
  return Fail(ErrorCode::kInvalidArgument, NameSetting(setting, what) + ": " + std::string(what));
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
      {"log.level", "IMGORIGIN_LOG_LEVEL",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         auto level = common::ParseLogLevel(v);
         if (!level) return Invalid(k, level.error().message);
         c.log_level = *level;
         return {};
       }},
      {"log.format", "IMGORIGIN_LOG_FORMAT",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         auto format = common::ParseLogFormat(v);
         if (!format) return Invalid(k, format.error().message);
         c.log_format = *format;
         return {};
       }},
      {"log.access", "IMGORIGIN_ACCESS_LOG",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         using Mode = AccessLogConfig::Mode;
         if (v == "off") {
           c.access_log.mode = Mode::kOff;
         } else if (v == "json") {
           c.access_log.mode = Mode::kJson;
         } else if (v == "combined") {
           c.access_log.mode = Mode::kCombined;
         } else {
           return Invalid(
               k, "expected \"off\", \"json\" or \"combined\", got \"" + std::string(v) + "\"");
         }
         return {};
       }},
      {"log.access_sample", "IMGORIGIN_ACCESS_LOG_SAMPLE",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         double share = 0;
         auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), share);
         if (ec != std::errc() || end != v.data() + v.size() || !(share >= 0 && share <= 1)) {
           return Invalid(k, "expected a share from 0 to 1, got \"" + std::string(v) + "\"");
         }
         c.access_log.sample = share;
         return {};
       }},
      {"metrics.namespace", "IMGORIGIN_METRICS_NAMESPACE",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) -> Result<void> {
         const bool valid =
             std::all_of(v.begin(), v.end(),
                         [](unsigned char ch) { return isalnum(ch) || ch == '_'; }) &&
             (v.empty() || !isdigit(static_cast<unsigned char>(v.front())));
         if (!valid) return Invalid(k, "letters, digits and _ (not first)");
         c.metrics_namespace = v;
         return {};
       }},
      {"server.workers", "IMGORIGIN_WORKERS", IntField(&Config::workers)},
      {"server.queue_size", "IMGORIGIN_QUEUE_SIZE", IntField(&Config::queue_size)},
      {"server.render_nice", "IMGORIGIN_RENDER_NICE", IntField(&Config::render_nice)},
      {"server.render_idle", "IMGORIGIN_RENDER_IDLE",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         auto set = SetBool(c.render_idle, k, v);
         c.jobs.worker.priority.idle = c.render_idle;  // jobs never outrank renders
         return set;
       }},
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
      {"output.upgrade_budget_ms", "IMGORIGIN_UPGRADE_BUDGET_MS",
       IntField(&Config::upgrade_budget_ms)},
      {"output.upgrade_max_age", "IMGORIGIN_UPGRADE_MAX_AGE", IntField(&Config::upgrade_max_age)},
      {"output.avif_speed", "IMGORIGIN_AVIF_SPEED",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetInt(c.pipeline.avif_speed, k, v);
       }},
      {"output.webp_effort", "IMGORIGIN_WEBP_EFFORT",
       [](Config& c, KeyLists&, std::string_view k, std::string_view v) {
         return SetInt(c.pipeline.webp_effort, k, v);
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

std::string Named(const Setting& setting) {
  return std::string(setting.key) + " (" + std::string(setting.env) + ")";
}

// How a module's message may spell a field: "lease_wait_ms" as itself or as "lease wait".
std::vector<std::string> FieldSpellings(std::string_view key) {
  std::string field(key.substr(key.rfind('.') + 1));
  std::vector<std::string> spellings = {field};
  for (std::string_view unit : {"_ms", "_s"}) {
    if (field.ends_with(unit)) field.resize(field.size() - unit.size());
  }
  std::replace(field.begin(), field.end(), '_', ' ');
  spellings.push_back(field);
  return spellings;
}

// `setting` is a file key, an environment variable, or a group ("cache", "limits") whose
// module's message `what` should lead to the setting meant: one whose field the message spells
// out, else (with `config`) the group's settings that were set, which one of them must be.
// Named both ways where it can be told; the group's name otherwise.
std::string NameSetting(std::string_view setting, std::string_view what, const Config* config) {
  for (const auto& s : Settings()) {
    if (s.key == setting || s.env == setting) return Named(s);
  }
  const std::string prefix = std::string(setting) + ".";
  const Setting* best = nullptr;
  size_t best_length = 0;
  for (const auto& s : Settings()) {
    if (!s.key.starts_with(prefix)) continue;
    for (const auto& spelling : FieldSpellings(s.key)) {
      if (what.find(spelling) != std::string_view::npos && spelling.size() > best_length) {
        best = &s;
        best_length = spelling.size();
      }
    }
  }
  if (best != nullptr) return Named(*best);
  std::string set;
  for (const auto& s : Settings()) {
    if (config != nullptr && s.key.starts_with(prefix) &&
        config->applied.contains(std::string(s.key))) {
      set += (set.empty() ? "" : " or ") + Named(s);
    }
  }
  return set.empty() ? std::string(setting) : set;
}

// A module's check failed: named after the setting meant (see NameSetting).
Result<void> InvalidIn(const Config& config, std::string_view group, std::string_view what) {
  return Fail(ErrorCode::kInvalidArgument,
              NameSetting(group, what, &config) + ": " + std::string(what));
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
    case toml::value_t::floating: {
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.as_floating());
      return std::string(buf, ec == std::errc() ? end : buf);
    }
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

// Settings naming a directory or file: relative in a config file, they are relative to the file.
constexpr std::string_view kPathSettings[] = {
    "source.local_root", "source.temp_dir",      "cache.disk_dir",        "source_cache.disk_dir",
    "ingest.data_dir",   "ingest.originals_dir", "ingest.variants_store", "output.watermark_path"};

std::string ResolvePath(std::string_view key, std::string text, const std::string& base_dir) {
  const bool is_path =
      std::find(std::begin(kPathSettings), std::end(kPathSettings), key) != std::end(kPathSettings);
  if (!is_path || text.empty() || text.front() == '/' || text.find("://") != std::string::npos) {
    return text;
  }
  return (std::filesystem::path(base_dir) / text).lexically_normal().string();
}

// The settings of one [section] (or nested [section.group], e.g. [ingest.events]). `base_dir`:
// the file's directory.
Result<void> ApplyTable(const toml::value& table, const std::string& prefix, Config& config,
                        KeyLists& lists, const std::string& base_dir) {
  for (const auto& [name, value] : table.as_table()) {
    const std::string key = prefix + "." + name;
    if (value.is_table()) {
      const bool known = std::any_of(Settings().begin(), Settings().end(), [&](const Setting& s) {
        return s.key.starts_with(key + ".");
      });
      if (!known) return Invalid(key, "unknown section");
      if (auto r = ApplyTable(value, key, config, lists, base_dir); !r) return r;
      continue;
    }
    auto it = std::find_if(Settings().begin(), Settings().end(),
                           [&](const Setting& s) { return s.key == key; });
    if (it == Settings().end()) return Invalid(key, "unknown setting");
    auto text = TomlText(value, key);
    if (!text) return std::unexpected(text.error());
    const std::string resolved = ResolvePath(key, *std::move(text), base_dir);
    if (auto r = it->set(config, lists, key, resolved); !r) return r;
    config.applied[std::string(it->key)] = {resolved, "file"};
  }
  return {};
}

// The absolute directory of a config file, which its relative paths are relative to.
std::string ConfigDirectory(const std::string& path) {
  std::error_code error;
  auto absolute = std::filesystem::absolute(path, error);
  if (error) return ".";
  return absolute.lexically_normal().parent_path().string();
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
      if (!table.is_table())
        return Invalid("url.presets", "expected a table of name = \"options\"");
      for (const auto& [name, options] : table.as_table()) {
        if (!options.is_string()) return Invalid("presets." + name, "expected a string");
        config.parser.presets[name] = options.as_string().str;
      }
      continue;
    }
    if (!table.is_table()) return Invalid(section, "expected a [section]");
    if (auto r = ApplyTable(table, section, config, lists, ConfigDirectory(path)); !r) return r;
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
  if (render_nice < 0 || render_nice > 19) return Invalid("server.render_nice", "0..19");
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
  if (cache_control.find_first_not_of(" \t") == std::string::npos) {
    return Invalid("headers.cache_control",
                   "must not be empty: a CDN would then apply its own default to every image");
  }
  if (not_found_max_age < 0) return Invalid("headers.not_found_max_age", "must be >= 0");
  if (upgrade_budget_ms < 0) return Invalid("output.upgrade_budget_ms", "must be >= 0");
  if (upgrade_max_age < 0) return Invalid("output.upgrade_max_age", "must be >= 0");
  if (pipeline.avif_speed < 0 || pipeline.avif_speed > 9) {
    return Invalid("output.avif_speed", "must be in [0, 9] (9 = fastest)");
  }
  if (pipeline.webp_effort < 0 || pipeline.webp_effort > 6) {
    return Invalid("output.webp_effort", "must be in [0, 6] (0 = fastest)");
  }
  if (auto r = signing.Validate(); !r) return InvalidIn(*this, "signing", r.error().message);
  // The parser's settings are url.* and limits.max_result_dimension.
  if (auto r = parser.Validate(); !r) {
    return InvalidIn(*this,
                     r.error().message.find("dimension") != std::string::npos ? "limits" : "url",
                     r.error().message);
  }
  if (auto r = pipeline.Validate(); !r) return InvalidIn(*this, "limits", r.error().message);
  if (auto r = formats.Validate(); !r) return Invalid("output.auto_format", r.error().message);
  if (auto r = memory.Validate(); !r) return InvalidIn(*this, "cache", r.error().message);
  if (auto r = tiers.Validate(); !r) return InvalidIn(*this, "cache", r.error().message);
  if (!redis_url.empty() && !memcached_servers.empty()) {
    return Invalid("cache.redis_url",
                   "configure Redis or memcached (cache.memcached_servers, "
                   "IMGORIGIN_MEMCACHED_SERVERS) as the shared tier, not both");
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
  if (auto r = fetch.Validate(); !r) return InvalidIn(*this, "source", r.error().message);
  if (auto r = s3.Validate(); !r) return InvalidIn(*this, "s3", r.error().message);
  if (auto r = http.Validate(); !r) return InvalidIn(*this, "http", r.error().message);
  if (auto r = source_cache.Validate(); !r)
    return InvalidIn(*this, "source_cache", r.error().message);
  if (auto r = notifications.Validate(); !r)
    return InvalidIn(*this, "notifications", r.error().message);
  if (auto r = jobs.worker.Validate(); !r) return InvalidIn(*this, "jobs", r.error().message);
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
    return InvalidIn(*this, "notifications",
                     "events come from ingest: set ingest.enabled (IMGORIGIN_INGEST_ENABLED)");
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
    if (auto r = ingest.upload.Validate(); !r) return InvalidIn(*this, "ingest", r.error().message);
    if (auto r = dialects.Validate(); !r) return InvalidIn(*this, "dialects", r.error().message);
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
      config.applied[std::string(setting.key)] = {*value, "env"};
    }
  }
  if (lists.keys.size() != lists.salts.size()) {
    return Fail(ErrorCode::kInvalidArgument,
                "signing.key (IMGORIGIN_KEY) and signing.salt (IMGORIGIN_SALT) must list the same "
                "number of values");
  }
  for (size_t i = 0; i < lists.keys.size(); ++i) {
    config.signing.keys.push_back({lists.keys[i], lists.salts[i]});
  }
  if (auto r = config.pipeline.LoadWatermark(); !r) {
    return std::unexpected(Invalid("output.watermark_path", r.error().message).error());
  }
  config.parser.watermark_configured = !config.pipeline.watermark_data.empty();
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  if (config.render_memory_budget == 0) config.render_memory_budget = DefaultRenderMemoryBudget();
  config.pipeline.memory_budget =
      std::make_shared<common::MemoryBudget>(config.render_memory_budget);
  return config;
}

}  // namespace imgorigin::origin

namespace imgorigin::origin {

// conf/reference.toml, compiled in (origin/CMakeLists.txt): the defaults DumpConfig shows.
const char* ReferenceToml();

namespace {

constexpr std::string_view kScriptVariables[] = {"IMGORIGIN_LIBVIPS", "IMGORIGIN_BUILD_DIR"};
constexpr std::string_view kScriptPrefixes[] = {"IMGORIGIN_TEST_"};
constexpr std::string_view kSecretSettings[] = {"signing.key", "signing.salt", "api.key",
                                                "notifications.webhook_secrets"};

// The defaults of conf/reference.toml by file key, as text; settings it leaves commented out
// (computed at start) are absent.
std::map<std::string, std::string> ReferenceDefaults() {
  std::map<std::string, std::string> defaults;
  toml::value root;
  try {
    std::istringstream stream{std::string(ReferenceToml())};
    root = toml::parse(stream, "conf/reference.toml");
  } catch (const std::exception&) {
    return defaults;  // a unit test keeps the file parseable
  }
  std::function<void(const toml::value&, const std::string&)> walk =
      [&](const toml::value& table, const std::string& prefix) {
        for (const auto& [name, value] : table.as_table()) {
          const std::string key = prefix.empty() ? name : prefix + "." + name;
          if (value.is_table()) {
            walk(value, key);
          } else if (auto text = TomlText(value, key)) {
            defaults[key] = *text;
          }
        }
      };
  if (root.is_table()) walk(root, "");
  return defaults;
}

std::string TomlQuoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// One line of DumpConfig: "name = "value"  # ENV, origin".
std::string DumpSetting(const Config& config, const Setting& setting,
                        const std::map<std::string, std::string>& defaults) {
  const std::string_view key = setting.key;
  const std::string name(key.substr(key.rfind('.') + 1));
  std::string value;
  std::string origin;
  if (auto applied = config.applied.find(std::string(key)); applied != config.applied.end()) {
    value = applied->second.first;
    origin = applied->second.second == "env" ? "from " + std::string(setting.env) : "from the file";
  } else if (auto found = defaults.find(std::string(key)); found != defaults.end()) {
    value = found->second;
    origin = "default";
  } else {
    return "# " + name + " = (computed at start)  # " + std::string(setting.env) + "\n";
  }
  return name + " = " + TomlQuoted(MaskSecret(key, value)) + "  # " + std::string(setting.env) +
         ", " + origin + "\n";
}

}  // namespace

std::string MaskSecret(std::string_view key, std::string_view value) {
  if (value.empty()) return std::string(value);
  if (std::find(std::begin(kSecretSettings), std::end(kSecretSettings), key) !=
      std::end(kSecretSettings)) {
    return "****";
  }
  std::string out(value);
  // scheme://user:password@host… → scheme://user:****@host…
  if (const size_t scheme = out.find("://"); scheme != std::string::npos) {
    const size_t at = out.find('@', scheme + 3);
    const size_t colon = out.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, "****");
    }
  }
  // libpq's key=value form: password=… up to the next space.
  if (const size_t password = out.find("password="); password != std::string::npos) {
    const size_t start = password + 9;
    const size_t end = out.find(' ', start);
    out.replace(start, (end == std::string::npos ? out.size() : end) - start, "****");
  }
  return out;
}

std::vector<std::string> ProcessVariables() {
  std::vector<std::string> variables;
  for (char** variable = environ; *variable != nullptr; ++variable)
    variables.emplace_back(*variable);
  return variables;
}

std::vector<std::string> UnknownSettingVariables(const std::vector<std::string>& variables) {
  std::vector<std::string> unknown;
  for (const auto& variable : variables) {
    const std::string name = variable.substr(0, variable.find('='));
    if (!name.starts_with("IMGORIGIN_")) continue;
    const bool known =
        std::any_of(Settings().begin(), Settings().end(),
                    [&](const Setting& s) { return s.env == name; }) ||
        std::find(std::begin(kScriptVariables), std::end(kScriptVariables), name) !=
            std::end(kScriptVariables) ||
        std::any_of(std::begin(kScriptPrefixes), std::end(kScriptPrefixes),
                    [&](std::string_view prefix) { return name.starts_with(prefix); });
    if (!known) unknown.push_back(name);
  }
  return unknown;
}

std::string DumpConfig(const Config& config) {
  const auto defaults = ReferenceDefaults();
  std::string out =
      "# imgorigin's effective configuration: file < environment < (defaults: "
      "conf/reference.toml).\n"
      "# Secrets are masked.\n";
  // Sections in order of first appearance, each with its settings.
  std::vector<std::string> sections;
  for (const auto& setting : Settings()) {
    std::string group(setting.key.substr(0, setting.key.rfind('.')));
    if (std::find(sections.begin(), sections.end(), group) == sections.end()) {
      sections.push_back(std::move(group));
    }
  }
  for (const auto& section : sections) {
    out += "\n[" + section + "]\n";
    for (const auto& setting : Settings()) {
      if (setting.key.substr(0, setting.key.rfind('.')) == section) {
        out += DumpSetting(config, setting, defaults);
      }
    }
  }
  if (!config.parser.presets.empty()) {
    out += "\n[presets]\n";
    for (const auto& [name, options] : config.parser.presets) {
      out += name + " = " + TomlQuoted(options) + "\n";
    }
  }
  return out;
}

}  // namespace imgorigin::origin
