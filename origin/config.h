// Server configuration: one struct with every setting's default, loaded from an optional TOML
// file and then overridden by IMGORIGIN_* environment variables.
//
// Each setting has a dotted file key ("limits.max_src_bytes") and an environment name
// (IMGORIGIN_MAX_SRC_BYTES); both go through the same parser, so a value means the same thing
// wherever it is written. Unknown keys in the file are errors (a typo must not silently fall back
// to a default). Loaded once on the main thread; read-only afterwards, so any thread may read it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "cache/memory_tier.h"
#include "common/status.h"
#include "signing/signer.h"
#include "transforms/parser.h"
#include "transforms/pipeline.h"

namespace imgorigin::origin {

struct Config {
  // [server]
  std::string bind = "127.0.0.1:8080";  // host:port; port 0 picks a free one
  size_t loops = 0;                     // event loops; 0 = one per core
  size_t workers = 0;                   // CPU pool threads; 0 = one per core
  size_t queue_size = 64;               // transforms waiting beyond the running ones, then 503
  std::chrono::milliseconds shutdown_timeout{10'000};  // drain limit for in-flight requests
  std::chrono::seconds client_timeout{30};  // idle/slow client read and write timeout

  // [url]
  size_t max_url_length = 8192;

  // [limits]
  int64_t max_src_bytes = 50ll << 20;

  // [source]
  std::string local_root;  // "" disables local:/// sources

  // [headers]
  std::string cache_control = "public, max-age=31536000, immutable";
  std::string cache_tag_header = "Cache-Tag";
  int not_found_max_age = 60;  // seconds a 404 may be cached; 0 = no-store

  signing::Config signing;              // [signing]
  transforms::ParserConfig parser;      // [url] and [presets]
  transforms::PipelineLimits pipeline;  // [limits]
  cache::MemoryTier::Config memory;     // [cache]

  common::Result<void> Validate() const;
};

using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The process environment.
std::optional<std::string> ProcessEnv(std::string_view name);

// Defaults ← file at `path` (skipped when empty) ← environment, then Validate(). Errors name the
// setting and what is wrong with it.
common::Result<Config> LoadConfig(const std::string& path, const EnvLookup& env = ProcessEnv);

// Parses "host:port" ("[::1]:8080" for IPv6).
common::Result<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view bind);

// "64MiB", "1GB", "512k", "1048576" → bytes.
common::Result<int64_t> ParseSize(std::string_view text);

}  // namespace imgorigin::origin
