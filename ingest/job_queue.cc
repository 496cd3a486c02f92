#include "ingest/job_queue.h"

#include <algorithm>

#include "ingest/record.h"

namespace imgorigin::ingest {
namespace {

using common::ErrorCode;
using common::Fail;

bool IsNameChar(char c, bool dot_allowed) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         (dot_allowed && c == '.');
}

bool IsName(std::string_view name, size_t max_bytes, bool dot_allowed) {
  return !name.empty() && name.size() <= max_bytes &&
         std::ranges::all_of(name, [&](char c) { return IsNameChar(c, dot_allowed); });
}

template <typename Duration>
std::string Count(Duration d) {
  return std::to_string(d.count());
}

}  // namespace

common::Result<void> ValidateQueueName(std::string_view name) {
  if (!IsName(name, kMaxQueueNameBytes, /*dot_allowed=*/false)) {
    return Fail(ErrorCode::kInvalidArgument, "a queue name is 1 to " +
                                                 std::to_string(kMaxQueueNameBytes) +
                                                 " characters of a-z, 0-9, _ and -");
  }
  return {};
}

common::Result<void> ValidateNewJob(const NewJob& job) {
  if (!IsName(job.kind, kMaxJobKindBytes, /*dot_allowed=*/true)) {
    return Fail(ErrorCode::kInvalidArgument, "a job kind is 1 to " +
                                                 std::to_string(kMaxJobKindBytes) +
                                                 " characters of a-z, 0-9, ., _ and -");
  }
  if (job.payload.size() > kMaxJobPayloadBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "a job payload is at most " + std::to_string(kMaxJobPayloadBytes) + " bytes, not " +
                    std::to_string(job.payload.size()));
  }
  return ValidateDelay(job.delay);
}

common::Result<void> ValidateReceive(int max, std::chrono::milliseconds wait,
                                     std::chrono::seconds visibility) {
  if (max < 1 || max > kMaxReceiveBatch) {
    return Fail(ErrorCode::kInvalidArgument, "a receive takes 1 to " +
                                                 std::to_string(kMaxReceiveBatch) + " jobs, not " +
                                                 std::to_string(max));
  }
  if (wait.count() < 0 || wait > kMaxReceiveWait) {
    return Fail(ErrorCode::kInvalidArgument, "a receive waits 0 to " + Count(kMaxReceiveWait) +
                                                 " s, not " + Count(wait) + " ms");
  }
  return ValidateVisibility(visibility);
}

common::Result<void> ValidateVisibility(std::chrono::seconds visibility) {
  if (visibility.count() < 1 || visibility > kMaxVisibility) {
    return Fail(
        ErrorCode::kInvalidArgument,
        "a visibility timeout is 1 to " + Count(kMaxVisibility) + " s, not " + Count(visibility));
  }
  return {};
}

common::Result<void> ValidateDelay(std::chrono::milliseconds delay) {
  if (delay.count() < 0 || delay > kMaxDelay) {
    return Fail(ErrorCode::kInvalidArgument,
                "a job delay is 0 to " + Count(kMaxDelay) + " s, not " + Count(delay) + " ms");
  }
  return {};
}

common::Result<void> ValidateDeadLetterPage(int limit) {
  if (limit < 1 || limit > kMaxDeadLetterPage) {
    return Fail(ErrorCode::kInvalidArgument, "a dead letter page holds 1 to " +
                                                 std::to_string(kMaxDeadLetterPage) +
                                                 " letters, not " + std::to_string(limit));
  }
  return {};
}

common::Result<void> ValidateDeadLetterIds(const std::vector<std::string>& ids) {
  if (ids.size() > static_cast<size_t>(kMaxDeadLetterPage)) {
    return Fail(ErrorCode::kInvalidArgument, "at most " + std::to_string(kMaxDeadLetterPage) +
                                                 " dead letter ids at once (none means all), not " +
                                                 std::to_string(ids.size()));
  }
  return {};
}

std::string CleanJobError(std::string_view error) { return CleanError(error, kMaxJobErrorBytes); }

}  // namespace imgorigin::ingest
