// The access log: one line per answered request, as JSON or in Apache's combined format with
// imgorigin's fields after it, written through a common::LineWriter (stdout by default), so the
// loop only formats the line into a buffer it reuses.
//
// A line holds the time, request id, method, path, status, body bytes, content type, X-Cache,
// fetch/transform/total milliseconds and the client address. The path never carries a
// signature: an image or /info URL's signature segment is left out, and the values of `s` and
// `signature` query parameters (seed 004 URLs, self-signed upload URLs) are replaced by "-".
// Record() runs on the exchange's loop; any number of loops at once.
#pragma once

#include <string>
#include <string_view>

#include "common/logging.h"
#include "origin/server.h"

namespace imgorigin::origin {

struct AccessLogConfig {
  enum class Mode { kOff, kJson, kCombined };
  Mode mode = Mode::kOff;
  double sample = 1.0;  // share of requests logged, 0..1
};

class AccessLog {
 public:
  AccessLog(const AccessLogConfig& config, common::LineWriter& writer)
      : config_(config), writer_(writer) {}

  void Record(const Exchange& exchange, const ReplyFacts& reply);

  // The line Record() would write (without sampling); `unix_ms` is the time it shows.
  std::string_view Format(const Exchange& exchange, const ReplyFacts& reply, int64_t unix_ms);

 private:
  AccessLogConfig config_;
  common::LineWriter& writer_;
};

// `path` (a request target, query included) as the access log shows it; `route` is the router's
// classification (origin/metrics.h).
void AppendLoggedPath(std::string& out, std::string_view target, uint8_t route);

}  // namespace imgorigin::origin
