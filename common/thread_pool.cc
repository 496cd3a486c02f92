#include "common/thread_pool.h"

#include <algorithm>

namespace imgorigin::common {

ThreadPool::ThreadPool(Config config, std::function<void()> on_thread_start)
    : capacity_(config.queue_capacity) {
  size_t n = config.threads ? config.threads : std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(n);
  try {
    for (size_t i = 0; i < n; ++i) {
      workers_.emplace_back([this, on_thread_start] { Run(on_thread_start); });
    }
  } catch (...) {
    // The destructor does not run for a half-built pool, and destroying a joinable std::thread
    // terminates the process: stop and join the workers already started, then report.
    Shutdown();
    throw;
  }
}

ThreadPool::~ThreadPool() { Shutdown(); }

bool ThreadPool::TrySubmit(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    // Idle workers take tasks straight away, so they do not count against the waiting room.
    if (stopping_ || FullLocked()) return false;
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

void ThreadPool::Shutdown() {
  // workers_ is joined and cleared outside mu_ (workers need mu_ to drain), so concurrent
  // callers (an explicit Shutdown racing the destructor's) are serialised here instead.
  std::lock_guard join_lock(join_mu_);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

size_t ThreadPool::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

bool ThreadPool::full() const {
  std::lock_guard lock(mu_);
  return FullLocked();
}

bool ThreadPool::FullLocked() const { return queue_.size() >= capacity_ + idle_; }

void ThreadPool::Run(const std::function<void()>& on_thread_start) {
  if (on_thread_start) on_thread_start();
  std::unique_lock lock(mu_);
  for (;;) {
    ++idle_;
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    --idle_;
    if (queue_.empty()) return;  // stopping and drained
    auto task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

}  // namespace imgorigin::common
