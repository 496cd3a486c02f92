// Job workers: threads that take jobs from one JobQueue (job_queue.h) and hand each to the
// handler for its kind, in `imgorigin serve` next to the HTTP server and in `imgorigin worker`.
//
// A job whose handler succeeds is acked. One that fails is retried after an exponential backoff
// with jitter (base · 2^(attempt-1), at most backoff_max, the second half of it random so that
// jobs that failed together do not come back together) until its attempt max_attempts has
// failed too; then it is buried in the dead letters with the error, and `on_buried` is told (the
// origin notifies `job.dead_lettered` and marks the image failed). A job of a kind no handler
// takes is buried at once. Handlers must be idempotent: delivery is at least once.
//
// While a handler runs, a heartbeat extends the job's visibility every visibility/3, so a long
// job is never taken over by another worker while this one still works on it; a worker that
// dies stops the heartbeat and its jobs come back after `visibility`.
//
// Worker threads run at a lower CPU priority (the idle class, or nice 10 out of it): on a machine
// that also serves images on the fly, the event loops get the CPU first.
//
// Stop() stops taking jobs and waits for the jobs in hand to finish (each is bounded by its
// handler's own deadlines), so SIGTERM loses nothing and repeats nothing that finished. A queue
// that fails (kUnavailable) is retried after a pause, logged once per outage.
//
// Threads: Start() and Stop() from one thread (the owner's); handlers run on the worker threads,
// `threads` of them at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "common/thread_priority.h"
#include "ingest/job_queue.h"

namespace imgorigin::ingest {

class Worker {
 public:
  struct Config {
    int threads = 1;
    std::chrono::seconds visibility{60};
    int max_attempts = 5;
    std::chrono::milliseconds backoff_base{2000};
    std::chrono::milliseconds backoff_max{300'000};
    // The longest Receive() waits for a job; also how long Stop() may wait for an idle thread.
    std::chrono::milliseconds poll_wait{2000};
    // The worker threads' CPU priority (common/thread_priority.h): below the request threads.
    // `imgorigin serve` sets `idle` from server.render_idle, so jobs never outrank renders.
    common::CpuPriority priority{.nice = 10, .idle = true};
    common::Result<void> Validate() const;
  };

  using Handler = std::function<common::Result<void>(const Job& job)>;
  using OnBuried = std::function<void(const Job& job, const common::Error& error)>;

  // The queue outlives the worker.
  Worker(Config config, JobQueue& queue, std::map<std::string, Handler> handlers,
         OnBuried on_buried = {});
  ~Worker();  // Stop()
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void Start();
  void Stop();

  // The delay before the delivery after `attempt` failed: base·2^(attempt-1), capped at
  // backoff_max and kMaxDelay, its second half drawn from `random` (0..1).
  static std::chrono::milliseconds Backoff(const Config& config, int attempt, double random);

  struct Counts {
    uint64_t succeeded = 0;
    uint64_t retried = 0;
    uint64_t buried = 0;
  };
  Counts counts() const;

 private:
  void Run();
  void Handle(const Job& job);
  void Heartbeat();

  const Config config_;
  JobQueue& queue_;
  const std::map<std::string, Handler> handlers_;
  const OnBuried on_buried_;

  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable stopped_;  // wakes waiting threads at Stop()
  bool heartbeat_stopping_ = false;  // under mu_: set once the worker threads are joined
  std::map<std::string, Job> in_hand_;  // by handle: what the heartbeat extends
  std::vector<std::thread> threads_;
  std::thread heartbeat_;
  std::atomic<uint64_t> succeeded_{0};
  std::atomic<uint64_t> retried_{0};
  std::atomic<uint64_t> buried_{0};
  std::atomic<bool> queue_down_{false};
};

}  // namespace imgorigin::ingest
