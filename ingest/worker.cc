#include "ingest/worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "common/thread_name.h"
#include "common/thread_priority.h"

namespace imgorigin::ingest {

using common::Error;
using common::ErrorCode;
using std::chrono::milliseconds;

namespace {

// After the queue failed, the pause before a worker thread asks again.
constexpr milliseconds kQueueDownPause{1000};

double Random01() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(random);
}

}  // namespace

common::Result<void> Worker::Config::Validate() const {
  auto invalid = [](std::string message) {
    return std::unexpected(Error{ErrorCode::kInvalidArgument, std::move(message)});
  };
  if (threads < 1 || threads > 256) return invalid("jobs.threads must be 1..256");
  if (auto v = ValidateVisibility(visibility); !v) return invalid("jobs.visibility_s: " + v.error().message);
  if (max_attempts < 1 || max_attempts > 100) return invalid("jobs.max_attempts must be 1..100");
  if (backoff_base < milliseconds(1) || backoff_base > kMaxDelay) {
    return invalid("jobs.backoff_base_ms must be 1 ms..15 min");
  }
  if (backoff_max < backoff_base || backoff_max > kMaxDelay) {
    return invalid("jobs.backoff_max_ms must be backoff_base_ms..15 min");
  }
  if (poll_wait < milliseconds(0) || poll_wait > std::chrono::seconds(20)) {
    return invalid("jobs.poll_wait_ms must be 0..20000");
  }
  if (priority.nice < 0 || priority.nice > 19) return invalid("jobs.nice must be 0..19");
  return {};
}

milliseconds Worker::Backoff(const Config& config, int attempt, double random) {
  const double exponent = std::clamp(attempt - 1, 0, 30);
  const double full = std::min<double>(
      static_cast<double>(config.backoff_base.count()) * std::exp2(exponent),
      static_cast<double>(std::min<milliseconds>(config.backoff_max, kMaxDelay).count()));
  return milliseconds(static_cast<int64_t>(full / 2 + full / 2 * std::clamp(random, 0.0, 1.0)));
}

Worker::Worker(Config config, JobQueue& queue, std::map<std::string, Handler> handlers,
               OnBuried on_buried)
    : config_(config),
      queue_(queue),
      handlers_(std::move(handlers)),
      on_buried_(std::move(on_buried)) {}

Worker::~Worker() { Stop(); }

void Worker::Start() {
  stopping_ = false;
  heartbeat_stopping_ = false;
  for (int i = 0; i < config_.threads; ++i) {
    threads_.push_back(common::NamedThread("job", [this] { Run(); }));
  }
  heartbeat_ = common::NamedThread("job-heartbeat", [this] { Heartbeat(); });
}

void Worker::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stopped_.notify_all();
  for (auto& thread : threads_) thread.join();  // their jobs in hand finish, still heartbeaten
  threads_.clear();
  {
    std::lock_guard lock(mu_);
    heartbeat_stopping_ = true;
  }
  stopped_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
}

Worker::Counts Worker::counts() const {
  return Counts{succeeded_.load(), retried_.load(), buried_.load()};
}

void Worker::Run() {
  common::LowerThisThreadPriority(config_.priority);  // yields to the request threads
  while (!stopping_) {
    auto jobs = queue_.Receive(1, config_.poll_wait, config_.visibility);
    if (!jobs) {
      if (!queue_down_.exchange(true)) {
        spdlog::error("the job queue cannot be read: {}", jobs.error().message);
      }
      std::unique_lock lock(mu_);
      stopped_.wait_for(lock, kQueueDownPause, [this] { return stopping_.load(); });
      continue;
    }
    if (queue_down_.exchange(false)) spdlog::info("the job queue answers again");
    for (const Job& job : *jobs) Handle(job);
  }
}

void Worker::Handle(const Job& job) {
  {
    std::lock_guard lock(mu_);
    in_hand_.emplace(job.handle, job);
  }
  common::Result<void> outcome;
  if (auto handler = handlers_.find(job.kind); handler == handlers_.end()) {
    outcome = std::unexpected(Error{ErrorCode::kInvalidArgument, "no handler for jobs of kind \"" + job.kind + "\""});
  } else {
    try {
      outcome = handler->second(job);
    } catch (const std::exception& e) {  // a handler bug must not take the worker down
      outcome = std::unexpected(Error{ErrorCode::kInternal, e.what()});
    }
  }
  {
    std::lock_guard lock(mu_);
    in_hand_.erase(job.handle);
  }
  common::Result<void> settled;
  if (outcome) {
    settled = queue_.Ack(job);
    if (settled) ++succeeded_;
  } else if (job.attempt < config_.max_attempts && handlers_.contains(job.kind)) {
    const milliseconds delay = Backoff(config_, job.attempt, Random01());
    spdlog::warn("job {} ({}) attempt {} failed, retrying in {} ms: {}", job.id, job.kind,
                 job.attempt, delay.count(), outcome.error().message);
    settled = queue_.Retry(job, delay, outcome.error().message);
    if (settled) ++retried_;
  } else {
    spdlog::error("job {} ({}) dead-lettered after {} attempt(s): {}", job.id, job.kind,
                  job.attempt, outcome.error().message);
    settled = queue_.Bury(job, outcome.error().message);
    if (settled) {
      ++buried_;
      if (on_buried_) on_buried_(job, outcome.error());
    }
  }
  // A stale handle means another worker took the job over (this one outlived its visibility):
  // that worker settles it. Anything else comes back after the visibility.
  if (!settled) {
    spdlog::warn("job {} ({}) could not be settled: {}", job.id, job.kind, settled.error().message);
  }
}

void Worker::Heartbeat() {
  const auto period = std::max<milliseconds>(config_.visibility / 3, milliseconds(100));
  std::unique_lock lock(mu_);
  while (!stopped_.wait_for(lock, period, [this] { return heartbeat_stopping_; })) {
    std::vector<Job> jobs;
    for (const auto& [handle, job] : in_hand_) jobs.push_back(job);
    lock.unlock();
    for (const Job& job : jobs) {
      if (auto extended = queue_.Extend(job, config_.visibility); !extended) {
        spdlog::warn("job {} ({}): the heartbeat failed: {}", job.id, job.kind,
                     extended.error().message);
      }
    }
    lock.lock();
  }
}

}  // namespace imgorigin::ingest
