// Settings every network source (S3, HTTP) shares: timeouts, retries, and when an original is
// streamed to a temporary file instead of memory. Plain values; any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "storage/curl_client.h"

namespace imgorigin::storage {

struct FetchConfig {
  std::chrono::milliseconds connect_timeout{3000};  // TCP + TLS handshake
  std::chrono::milliseconds timeout{30'000};        // one attempt, whole body included
  int retries = 2;                                  // extra attempts after 5xx/429/drops
  std::chrono::milliseconds retry_backoff{100};     // first backoff; doubles, jittered
  // Originals larger than this are streamed to a file under temp_dir and decoded from there
  // with sequential access, so hundreds of MB never sit in memory.
  int64_t stream_to_file_bytes = 16ll << 20;
  std::string temp_dir;  // "" = $TMPDIR, else /tmp

  common::Result<void> Validate() const;
  std::string TempDir() const;  // temp_dir resolved
  RetryPolicy Retry() const { return {.retries = retries, .backoff = retry_backoff}; }
  // A GET request with this config's limits; `max_bytes` is limits.max_src_bytes.
  HttpRequest Request(std::string url, int64_t max_bytes, std::string what) const;
};

}  // namespace imgorigin::storage
