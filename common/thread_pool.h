// A fixed set of worker threads fed from two bounded FIFO queues: the normal lane and a low
// lane for background work (a format upgrade's better render).
//
// The origin uses it as the CPU pool: TrySubmit never blocks, so an event loop can hand work over
// and refuse it at once (kOverloaded) when the queue is full. A low task starts only when no
// normal task waits, never on the last free worker of a pool with more than one (one worker stays
// for normal tasks) and at most `max_low_running` at once; low tasks take nothing from the normal
// lane's room: workers running them count as free there, so background work never makes a normal
// task be refused. The pool owns its threads; Shutdown() (also run by the destructor) lets queued
// normal tasks finish, drops the low tasks still waiting (destroyed without running: background
// work is best effort), lets the ones running finish, then joins. TrySubmit may be called from any
// thread; tasks run on the pool's threads.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace imgorigin::common {

class ThreadPool {
 public:
  struct Config {
    size_t threads = 0;          // 0 = one per core
    size_t queue_capacity = 64;  // tasks waiting beyond the ones running; 0 = no waiting room
    size_t low_queue_capacity = 64;  // low tasks waiting, whatever runs; 0 = no low lane
    size_t max_low_running = 0;      // low tasks running at once; 0 = all workers but one
    const char* name = nullptr;      // the workers' thread name (common/thread_name.h)
  };
  enum class Priority { kNormal, kLow };

  // `on_thread_start` runs once on each worker before it takes tasks (e.g. libvips setup).
  explicit ThreadPool(Config config, std::function<void()> on_thread_start = {});
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `task` in the lane of `priority`; false (and `task` dropped) when that lane is full or
  // the pool is stopping.
  bool TrySubmit(std::function<void()> task, Priority priority = Priority::kNormal);

  // Stops taking tasks, runs the normal ones already queued, drops the waiting low ones, joins
  // the workers. Idempotent and safe to
  // call from several threads; must not be called from one of the pool's own tasks.
  void Shutdown();

  size_t threads() const { return workers_.size(); }
  size_t queued() const;      // normal tasks waiting
  size_t low_queued() const;  // low tasks waiting
  // Whether TrySubmit would refuse a task now (every worker busy and the waiting room full): a
  // cheap overload check for callers that have something else to offer instead of a 503.
  bool full() const;

 private:
  void Run(const std::function<void()>& on_thread_start);
  bool FullLocked() const;      // mu_ held
  bool LowRunnableLocked() const;  // mu_ held: a worker may start a low task now

  const size_t capacity_;
  const size_t low_capacity_;
  const size_t max_low_running_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::deque<std::function<void()>> low_queue_;
  size_t idle_ = 0;
  size_t running_low_ = 0;
  bool stopping_ = false;
  std::mutex join_mu_;  // held by Shutdown() while it joins and clears workers_
  std::vector<std::thread> workers_;
};

}  // namespace imgorigin::common
