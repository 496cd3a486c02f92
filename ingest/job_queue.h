// The durable job queue behind eager presets and notifications (DESIGN.md §6): one interface,
// three backends that pass one contract test suite (tests/integration/job_queue_contract.h).
//
//   SqliteJobQueue  embedded default: a table in the records' database file
//   RedisJobQueue   fleets: a Streams consumer group per queue, a dead-letter stream
//   SqsJobQueue     AWS: an SQS queue, its dead-letter queue through the redrive policy
//
// A queue has a name ("jobs", "notify"): one backend holds several queues that never see each
// other's jobs, and each has its own dead letters.
//
// Delivery is at least once. Receive() hands a job to one worker and hides it from every other
// for `visibility`; the worker then
//   Ack()s it (done, gone for good),
//   Extend()s it while it works on it (heartbeat for long jobs),
//   Retry()s it (visible again after `delay`; the next delivery has attempt + 1), or
//   Bury()s it (moved to the dead letters with the error).
// A worker that dies holding a job loses nothing: once its visibility ends the job is delivered
// again, to any worker, with attempt + 1. The queue never decides on its own that a job is dead,
// except the SQS backend whose redrive policy moves a message that was received maxReceiveCount
// times (a backstop for a poison job that kills workers before they can Bury it). So handlers
// must be idempotent, and the worker (not the queue) picks backoff, jitter and max attempts.
//
// A Job's `handle` belongs to one delivery: Ack/Extend/Retry/Bury with the handle of a delivery
// whose visibility ran out (and that was delivered again since) is kConflict and changes
// nothing, so a slow worker cannot ack or bury the work of the worker that took it over.
//
// Errors: kInvalidArgument (a bound below broken, a malformed handle or id), kConflict (a stale
// handle, above), kNotFound (Redrive/Purge of a dead letter id that is not there), kUnavailable
// (the backend cannot be reached or did not answer in time: retry later), kInternal (anything
// else). Threads: every member may be called from any number of threads at once; calls block on
// disk or network I/O, each bounded by the backend's timeouts, so never call them from an event
// loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace imgorigin::ingest {

// A job's kind and payload are the worker's business; the queue stores them byte for byte.
// 256 KiB is SQS's message limit less room for the envelope.
inline constexpr size_t kMaxJobKindBytes = 64;
inline constexpr size_t kMaxJobPayloadBytes = 192 * 1024;
inline constexpr size_t kMaxJobErrorBytes = 1024;  // longer errors are cut, never refused
inline constexpr int kMaxReceiveBatch = 10;        // SQS's limit for one ReceiveMessage
inline constexpr int kMaxDeadLetterPage = 1000;    // also the most ids one Redrive/Purge takes
inline constexpr std::chrono::seconds kMaxReceiveWait{20};  // SQS's longest long poll
// A queue name: 1..kMaxQueueNameBytes of [a-z0-9_-] (what an SQS queue name, a Redis key and an
// SQL value all take as is).
inline constexpr size_t kMaxQueueNameBytes = 64;
// SQS's bounds for visibility timeouts and delays, applied to every backend alike.
inline constexpr std::chrono::seconds kMaxVisibility{12 * 3600};
inline constexpr std::chrono::seconds kMaxDelay{900};

using JobClock = std::chrono::system_clock;

struct NewJob {
  std::string kind;                    // 1..kMaxJobKindBytes of [a-z0-9._-], e.g. "eager", "notify"
  std::string payload;                 // at most kMaxJobPayloadBytes, any bytes (JSON in practice)
  std::chrono::milliseconds delay{0};  // first delivery no sooner than this; 0..kMaxDelay
};

struct Job {
  std::string id;  // the backend's id for the job, stable across deliveries and retries
  std::string kind;
  std::string payload;
  int attempt = 1;         // 1 on the first delivery, +1 on every delivery after it
  std::string last_error;  // what the previous attempt's Retry() said; empty on the first
  std::string handle;      // this delivery's receipt: what Ack/Extend/Retry/Bury take
};

struct DeadLetter {
  std::string id;  // the dead letter's own id: what Redrive/Purge take
  std::string kind;
  std::string payload;
  int attempts = 0;   // deliveries before it was buried
  std::string error;  // why it was buried
  JobClock::time_point buried_at{};
};

struct DeadLetterPage {
  std::vector<DeadLetter> letters;  // oldest first
  std::string next_after;           // cursor of the next page; empty when this is the last
};

struct QueueStats {
  int64_t ready = 0;      // can be received now
  int64_t delayed = 0;    // waiting for a Retry() delay or NewJob::delay
  int64_t in_flight = 0;  // received and not acked, retried or buried yet
  int64_t dead = 0;
};

class JobQueue {
 public:
  virtual ~JobQueue() = default;

  // Returns the job's id. Durable once it returns (the SQLite backend: synchronous=FULL).
  virtual common::Result<std::string> Enqueue(const NewJob& job) = 0;

  // Up to `max` (1..kMaxReceiveBatch) jobs, waiting at most `wait` (0..kMaxReceiveWait)
  // for the first; an empty vector when none came. Each is hidden for `visibility`
  // (1 s..kMaxVisibility). Jobs come roughly oldest first; no order is promised.
  virtual common::Result<std::vector<Job>> Receive(int max, std::chrono::milliseconds wait,
                                                   std::chrono::seconds visibility) = 0;

  virtual common::Result<void> Ack(const Job& job) = 0;
  // The job stays hidden for `visibility` from now (1 s..kMaxVisibility).
  virtual common::Result<void> Extend(const Job& job, std::chrono::seconds visibility) = 0;
  // Visible again after `delay` (0..kMaxDelay), with `error` as the next delivery's last_error.
  virtual common::Result<void> Retry(const Job& job, std::chrono::milliseconds delay,
                                     std::string_view error) = 0;
  // Moves the job to the dead letters with `error`.
  virtual common::Result<void> Bury(const Job& job, std::string_view error) = 0;

  // Dead letters with id after `after` ("" = from the start), at most `limit`
  // (1..kMaxDeadLetterPage).
  virtual common::Result<DeadLetterPage> ListDead(std::string_view after, int limit) = 0;
  // Puts dead letters back as new jobs (attempt 1 again, a new id); an empty `ids` means all of
  // them, otherwise at most kMaxDeadLetterPage ids. Returns how many went back. An id that is
  // not there is kNotFound and nothing goes back.
  virtual common::Result<int64_t> Redrive(const std::vector<std::string>& ids) = 0;
  // Deletes dead letters for good; an empty `ids` means all, otherwise at most
  // kMaxDeadLetterPage ids. Returns how many. An id that is not there is kNotFound and nothing
  // is deleted.
  virtual common::Result<int64_t> Purge(const std::vector<std::string>& ids) = 0;

  virtual common::Result<QueueStats> Stats() = 0;
};

// Checks every backend makes before it touches its store.
common::Result<void> ValidateQueueName(std::string_view name);
common::Result<void> ValidateNewJob(const NewJob& job);
common::Result<void> ValidateReceive(int max, std::chrono::milliseconds wait,
                                     std::chrono::seconds visibility);
common::Result<void> ValidateVisibility(std::chrono::seconds visibility);
common::Result<void> ValidateDelay(std::chrono::milliseconds delay);
common::Result<void> ValidateDeadLetterPage(int limit);
// The ids Redrive/Purge take, at most kMaxDeadLetterPage (each backend checks their form).
common::Result<void> ValidateDeadLetterIds(const std::vector<std::string>& ids);
// kMaxJobErrorBytes of the error, cut on a UTF-8 boundary, invalid bytes and control characters
// replaced (record.h's CleanError with the job queue's bound).
std::string CleanJobError(std::string_view error);

}  // namespace imgorigin::ingest
