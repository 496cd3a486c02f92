#include "common/thread_pool.h"

#include <algorithm>

#include "common/thread_name.h"

namespace imgorigin::common {
namespace {

size_t Threads(const ThreadPool::Config& config) {
  return config.threads ? config.threads : std::max(1u, std::thread::hardware_concurrency());
}

// Never the last worker of a pool with more than one: one always stays for normal tasks.
size_t LowLimit(const ThreadPool::Config& config) {
  const size_t n = Threads(config);
  const size_t limit = config.max_low_running ? config.max_low_running : n;
  return std::max<size_t>(1, std::min(limit, n - 1));
}

}  // namespace

ThreadPool::ThreadPool(Config config, std::function<void()> on_thread_start)
    : capacity_(config.queue_capacity),
      low_capacity_(config.low_queue_capacity),
      max_low_running_(LowLimit(config)) {
  const size_t n = Threads(config);
  workers_.reserve(n);
  try {
    for (size_t i = 0; i < n; ++i) {
      workers_.push_back(
          NamedThread(config.name, [this, on_thread_start] { Run(on_thread_start); }));
    }
  } catch (...) {
    // The destructor does not run for a half-built pool, and destroying a joinable std::thread
    // terminates the process: stop and join the workers already started, then report.
    Shutdown();
    throw;
  }
}

ThreadPool::~ThreadPool() { Shutdown(); }

bool ThreadPool::TrySubmit(std::function<void()> task, Priority priority) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    if (priority == Priority::kLow) {
      if (low_queue_.size() >= low_capacity_) return false;
      low_queue_.push_back(std::move(task));
    } else {
      // Idle workers take tasks straight away, so they do not count against the waiting room.
      if (FullLocked()) return false;
      queue_.push_back(std::move(task));
    }
  }
  cv_.notify_one();
  return true;
}

void ThreadPool::Shutdown() {
  // workers_ is joined and cleared outside mu_ (workers need mu_ to drain), so concurrent
  // callers (an explicit Shutdown racing the destructor's) are serialised here instead.
  std::lock_guard join_lock(join_mu_);
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    dropped.swap(low_queue_);
  }
  dropped.clear();  // outside mu_: a task's captures may do anything when destroyed
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

size_t ThreadPool::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

size_t ThreadPool::low_queued() const {
  std::lock_guard lock(mu_);
  return low_queue_.size();
}

bool ThreadPool::full() const {
  std::lock_guard lock(mu_);
  return FullLocked();
}

// Workers busy with low tasks count as free: low work never shrinks the normal lane's room.
bool ThreadPool::FullLocked() const {
  return queue_.size() >= capacity_ + idle_ + running_low_;
}

bool ThreadPool::LowRunnableLocked() const {
  return !stopping_ && queue_.empty() && !low_queue_.empty() && running_low_ < max_low_running_;
}

void ThreadPool::Run(const std::function<void()>& on_thread_start) {
  if (on_thread_start) on_thread_start();
  std::unique_lock lock(mu_);
  for (;;) {
    ++idle_;
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty() || LowRunnableLocked(); });
    --idle_;
    const bool low = queue_.empty() && LowRunnableLocked();
    if (queue_.empty() && !low) return;  // stopping and drained
    auto& lane = low ? low_queue_ : queue_;
    auto task = std::move(lane.front());
    lane.pop_front();
    if (low) ++running_low_;
    lock.unlock();
    task();
    task = nullptr;  // its captures go before the lock is taken again
    lock.lock();
    if (low) {
      --running_low_;
      // Another waiting low task may now start on a worker that is waiting.
      if (!low_queue_.empty()) cv_.notify_one();
    }
  }
}

}  // namespace imgorigin::common
