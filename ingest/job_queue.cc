// TEMPORARY stand-in written by the SQS helper so SqsJobQueue links before wip-queue is merged:
// the lead drops this commit in favour of wip-queue's ingest/job_queue.cc.
#include "ingest/job_queue.h"

#include <algorithm>
#include <cctype>

#include "ingest/record.h"

namespace imgorigin::ingest {

using common::ErrorCode;
using common::Fail;
using common::Result;

Result<void> ValidateNewJob(const NewJob& job) {
  if (job.kind.empty() || job.kind.size() > kMaxJobKindBytes ||
      !std::all_of(job.kind.begin(), job.kind.end(), [](unsigned char c) {
        return std::islower(c) || std::isdigit(c) || c == '.' || c == '_' || c == '-';
      })) {
    return Fail(ErrorCode::kInvalidArgument, "bad job kind");
  }
  if (job.payload.size() > kMaxJobPayloadBytes) {
    return Fail(ErrorCode::kInvalidArgument, "job payload too large");
  }
  return ValidateDelay(job.delay);
}

Result<void> ValidateReceive(int max, std::chrono::milliseconds wait,
                             std::chrono::seconds visibility) {
  if (max < 1 || max > kMaxReceiveBatch) return Fail(ErrorCode::kInvalidArgument, "bad max");
  if (wait.count() < 0 || wait > std::chrono::seconds(20)) {
    return Fail(ErrorCode::kInvalidArgument, "bad wait");
  }
  return ValidateVisibility(visibility);
}

Result<void> ValidateVisibility(std::chrono::seconds visibility) {
  if (visibility.count() < 1 || visibility > kMaxVisibility) {
    return Fail(ErrorCode::kInvalidArgument, "bad visibility");
  }
  return {};
}

Result<void> ValidateDelay(std::chrono::milliseconds delay) {
  if (delay.count() < 0 || delay > kMaxDelay) return Fail(ErrorCode::kInvalidArgument, "bad delay");
  return {};
}

Result<void> ValidateDeadLetterPage(int limit) {
  if (limit < 1 || limit > kMaxDeadLetterPage) return Fail(ErrorCode::kInvalidArgument, "bad limit");
  return {};
}

std::string CleanJobError(std::string_view error) {
  std::string cleaned = CleanError(error);
  if (cleaned.size() > kMaxJobErrorBytes) cleaned.resize(kMaxJobErrorBytes);
  return cleaned;
}

}  // namespace imgorigin::ingest
