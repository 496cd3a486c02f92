// The job queue for fleets (job_queue.h): Redis Streams, through blocking hiredis connections
// (cache/redis_client.h: the same URL, pool and timeouts as the Redis cache tier).
//
// One queue object serves one queue name, whose keys share one hash tag
// (`<prefix>{<queue>}:…`, so a queue lives on one Redis Cluster slot):
//   :stream   the jobs that can be delivered, read through the consumer group `workers`;
//             an entry holds job id, kind, payload, attempts before it and the last error
//   :leases   sorted set: stream entry id → the time its delivery's visibility ends
//   :delayed  sorted set: job id → when it is due; the job itself waits in the hash :job:<id>
//   :dead     the dead-letter stream (job id, kind, payload, attempts, error, buried_ms)
//   :seq      the counter job ids come from (ids stay the same across retries)
// Every change is one Lua script, so it is atomic on the server and a worker that dies half way
// leaves nothing half done; all times are the Redis server's clock (TIME), so workers' clocks
// do not matter.
//
// Visibility: a delivery takes the entry into the group's pending list (XREADGROUP, or XCLAIM
// when taken over) and writes its deadline into :leases in the same script. Deadlines, not the
// pending list's idle times, decide when a job comes back: each Receive first claims the
// entries whose deadline passed (XCLAIM, which counts a delivery) before it reads new ones, so
// every Receive call may choose its own visibility and Extend just moves the deadline (and
// resets the idle time with XCLAIM … JUSTID, which counts nothing, for operators reading
// XPENDING). A job's attempt is the attempts stored in its entry plus the entry's delivery count;
// the handle is "<entry id>:<delivery count>", and a call whose count is no longer the pending
// entry's (it was claimed again, or is gone) is kConflict. A Retry writes the job anew (straight
// into the stream, or into :delayed until its delay ends); due delayed jobs move into the stream
// at the start of every Receive.
//
// Waiting: Receive blocks in XREAD BLOCK on the stream after its last entry, so it wakes as soon
// as any process adds a job, and at most every poll_interval (and when the next delayed job or
// lease is due) to look at delayed jobs and expired leases. A blocked call holds one pooled
// connection; other calls open their own, so nothing waits behind it.
//
// Bounds: max_jobs caps ready, in-flight and delayed jobs together: Enqueue past it is
// kOverloaded (a trimmed stream, as XADD MAXLEN would do, would lose jobs silently; retried and
// redriven jobs go in regardless, they are counted already). The dead-letter stream keeps about
// max_dead letters (XADD MAXLEN ~): past it the oldest go. Redrive of all dead letters moves them
// 1000 per script call, so Redis never stalls on a long one.
//
// Durability is Redis's: with appendonly yes and appendfsync everysec a crash loses at most the
// last second; without persistence a restart loses every queue. Errors: Redis down, refusing or
// not answering within connect_timeout/command_timeout is kUnavailable (the next call
// reconnects). Safe to call from any number of threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "cache/redis_client.h"
#include "common/status.h"
#include "ingest/job_queue.h"

namespace imgorigin::ingest {

class RedisJobQueue final : public JobQueue {
 public:
  struct Config {
    std::string url;                      // redis://[:password@]host[:port][/db]; no default
    std::string queue;                    // the queue's name (ValidateQueueName); no default
    std::string prefix = "imgorigin:q:";  // before every key
    std::chrono::milliseconds connect_timeout{250};
    // Per round trip, on top of a blocking read's own time: a batch of 10 jobs of 192 KiB is
    // 2 MB to move.
    std::chrono::milliseconds command_timeout{2000};
    // Longest one blocking read lasts before a waiting Receive looks at delayed jobs and expired
    // leases again.
    std::chrono::milliseconds poll_interval{500};
    int64_t max_jobs = 1'000'000;  // see Bounds above
    int64_t max_dead = 1'000'000;
    size_t max_idle_connections = 16;
    common::Result<void> Validate() const;
  };

  // Checks the config; connects lazily, so a Redis that is down at start is not fatal.
  static common::Result<std::unique_ptr<RedisJobQueue>> Create(Config config);

  common::Result<std::string> Enqueue(const NewJob& job) override;
  common::Result<std::vector<Job>> Receive(int max, std::chrono::milliseconds wait,
                                           std::chrono::seconds visibility) override;
  common::Result<void> Ack(const Job& job) override;
  common::Result<void> Extend(const Job& job, std::chrono::seconds visibility) override;
  common::Result<void> Retry(const Job& job, std::chrono::milliseconds delay,
                             std::string_view error) override;
  common::Result<void> Bury(const Job& job, std::string_view error) override;
  common::Result<DeadLetterPage> ListDead(std::string_view after, int limit) override;
  common::Result<int64_t> Redrive(const std::vector<std::string>& ids) override;
  common::Result<int64_t> Purge(const std::vector<std::string>& ids) override;
  common::Result<QueueStats> Stats() override;

  class PassKey {
    friend class RedisJobQueue;
    PassKey() = default;
  };
  RedisJobQueue(PassKey, Config config, std::unique_ptr<cache::RedisClient> client);

 private:
  using ReplyPtr = cache::RedisClient::ReplyPtr;
  struct Taken;

  // EVAL of `script` over the queue's keys, with the group and job hash prefix before `args`.
  common::Result<ReplyPtr> Eval(const std::string& script, const std::vector<std::string>& args);
  common::Result<Taken> TakeDue(int max, std::chrono::seconds visibility);
  // Runs `script` (Ack, Extend, Retry, Bury) for the handle's delivery, then `extra` args;
  // kConflict when the script answers 0 (the delivery is over).
  common::Result<void> OnDelivery(const std::string& script, const Job& job,
                                  std::vector<std::string> extra);
  // Redrive or Purge of the given dead letters, all or none.
  common::Result<int64_t> ForDeadLetters(const std::vector<std::string>& ids, bool redrive);
  common::Result<int64_t> RedriveAll();

  const Config config_;
  const std::unique_ptr<cache::RedisClient> client_;
  const std::string stream_, delayed_, leases_, dead_, seq_, job_prefix_;
};

}  // namespace imgorigin::ingest
