#include "storage/fetch_config.h"

#include <cstdlib>

namespace imgorigin::storage {

common::Result<void> FetchConfig::Validate() const {
  using common::ErrorCode;
  using common::Fail;
  if (connect_timeout.count() <= 0 || timeout.count() <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "source timeouts must be positive");
  }
  if (retries < 0 || retries > 10)
    return Fail(ErrorCode::kInvalidArgument, "source retries: 0 to 10");
  if (retry_backoff.count() < 0)
    return Fail(ErrorCode::kInvalidArgument, "retry backoff must be >= 0");
  if (stream_to_file_bytes < 0) {
    return Fail(ErrorCode::kInvalidArgument, "stream_to_file_bytes must be >= 0");
  }
  return {};
}

std::string FetchConfig::TempDir() const {
  if (!temp_dir.empty()) return temp_dir;
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

HttpRequest FetchConfig::Request(std::string url, int64_t max_bytes, std::string what) const {
  HttpRequest request;
  request.url = std::move(url);
  request.connect_timeout = connect_timeout;
  request.timeout = timeout;
  request.max_bytes = max_bytes;
  request.spill_bytes = stream_to_file_bytes;
  request.spill_dir = TempDir();
  request.what = std::move(what);
  return request;
}

}  // namespace imgorigin::storage
