// A fixed set of worker threads fed from one bounded FIFO queue.
//
// The origin uses it as the CPU pool: TrySubmit never blocks, so an event loop can hand work over
// and refuse it at once (kOverloaded) when the queue is full. The pool owns its threads; Shutdown()
// (also run by the destructor) lets queued tasks finish, then joins. TrySubmit may be called from
// any thread; tasks run on the pool's threads.
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
  };

  // `on_thread_start` runs once on each worker before it takes tasks (e.g. libvips setup).
  explicit ThreadPool(Config config, std::function<void()> on_thread_start = {});
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `task`; false (and `task` dropped) when the queue is full or the pool is stopping.
  bool TrySubmit(std::function<void()> task);

  // Stops taking tasks, runs the ones already queued, joins the workers. Idempotent and safe to
  // call from several threads; must not be called from one of the pool's own tasks.
  void Shutdown();

  size_t threads() const { return workers_.size(); }
  size_t queued() const;
  // Whether TrySubmit would refuse a task now (every worker busy and the waiting room full): a
  // cheap overload check for callers that have something else to offer instead of a 503.
  bool full() const;

 private:
  void Run(const std::function<void()>& on_thread_start);
  bool FullLocked() const;  // mu_ held

  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  size_t idle_ = 0;
  bool stopping_ = false;
  std::mutex join_mu_;  // held by Shutdown() while it joins and clears workers_
  std::vector<std::thread> workers_;
};

}  // namespace imgorigin::common
