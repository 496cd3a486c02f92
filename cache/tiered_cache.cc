#include "cache/tiered_cache.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <map>
#include <thread>

#include "cache/entry_codec.h"
#include "cache/key.h"
#include "common/thread_name.h"

namespace imgorigin::cache {
namespace {

using common::ErrorCode;
using common::Fail;
using SteadyClock = std::chrono::steady_clock;

constexpr char kEpochCounter[] = "epoch";
constexpr auto kLogEvery = std::chrono::seconds(10);

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string GenerationCounter(const std::string& source) { return "g:" + SourceTag(source); }

}  // namespace

common::Result<void> TieredCache::Config::Validate() const {
  auto bad = [](std::string what) { return Fail(ErrorCode::kInvalidArgument, std::move(what)); };
  if (io_threads < 1) return bad("cache I/O threads must be at least 1");
  if (lease_ttl.count() <= 0 || lease_poll.count() <= 0 || lease_wait.count() < 0) {
    return bad("cache lease times must be positive");
  }
  if (lease_wait > lease_ttl) return bad("cache lease wait must not exceed the lease TTL");
  if (generation_poll.count() <= 0) return bad("cache generation poll interval must be > 0");
  if (breaker_cooldown.count() <= 0) return bad("cache breaker cooldown must be > 0");
  return {};
}

// One slower tier with its breaker, counters and log throttle.
struct TieredCache::Slot {
  Slot(std::unique_ptr<Tier> t, const Config& config)
      : tier(std::move(t)), breaker(config.breaker_failures, config.breaker_cooldown) {}

  std::unique_ptr<Tier> tier;
  CircuitBreaker breaker;
  std::atomic<uint64_t> hits{0}, misses{0}, errors{0}, skipped{0}, writes{0}, declined{0};
  std::atomic<int64_t> last_log{0};  // steady seconds
  std::atomic<uint64_t> unlogged{0};

  // Runs one call through the breaker; a refusal or failure is counted and logged.
  template <typename F>
  auto Guard(const char* what, F&& call) -> decltype(call()) {
    if (!breaker.Allow()) {
      skipped.fetch_add(1, std::memory_order_relaxed);
      return Fail(ErrorCode::kUnavailable, std::string(tier->name()) + ": circuit open");
    }
    auto result = call();
    if (result) {
      breaker.Success();
    } else {
      breaker.Failure();
      Problem(what, result.error().message);
    }
    return result;
  }

  void Problem(const char* what, const std::string& message) {
    errors.fetch_add(1, std::memory_order_relaxed);
    const int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(SteadyClock::now().time_since_epoch())
            .count();
    int64_t last = last_log.load(std::memory_order_relaxed);
    if (now - last < kLogEvery.count() ||
        !last_log.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
      unlogged.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    spdlog::warn("cache tier {}: {} failed: {} ({} more problem(s) not logged; treated as misses)",
                 tier->name(), what, message, unlogged.exchange(0, std::memory_order_relaxed));
  }
};

// Runs closures after a delay on one thread. Stop() runs whatever is still waiting at once, so
// no callback a request depends on is ever dropped.
class TieredCache::Timer {
 public:
  Timer() : thread_(common::NamedThread("cache-timer", [this] { Run(); })) {}
  ~Timer() { Stop(); }

  // False once stopped (the task is not kept).
  bool Schedule(std::chrono::milliseconds delay, std::function<void()> task) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return false;
      due_.emplace(SteadyClock::now() + delay, std::move(task));
    }
    cv_.notify_one();
    return true;
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_one();
    thread_.join();
    for (auto& [when, task] : due_) task();
    due_.clear();
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      if (due_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto first = due_.begin();
      if (first->first > SteadyClock::now()) {
        cv_.wait_until(lock, first->first);
        continue;
      }
      auto task = std::move(first->second);
      due_.erase(first);
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<SteadyClock::time_point, std::function<void()>> due_;
  bool stopping_ = false;
  std::thread thread_;
};

TieredCache::TieredCache(Config config, MemoryTier& memory, std::unique_ptr<SharedTier> shared,
                         std::vector<std::unique_ptr<Tier>> below)
    : config_(std::move(config)), memory_(memory) {
  if (shared) {
    shared_ = shared.get();
    slots_.push_back(std::make_unique<Slot>(std::move(shared), config_));
    shared_slot_ = slots_.back().get();
  }
  for (auto& tier : below) {
    if (tier) slots_.push_back(std::make_unique<Slot>(std::move(tier), config_));
  }
  if (slots_.empty()) return;
  io_ = std::make_unique<common::ThreadPool>(common::ThreadPool::Config{
      .threads = config_.io_threads, .queue_capacity = config_.io_queue, .name = "cache-io"});
  timer_ = std::make_unique<Timer>();
  if (shared_) timer_->Schedule(std::chrono::milliseconds(0), [this] { PollEpoch(); });
}

TieredCache::~TieredCache() { Shutdown(); }

void TieredCache::Shutdown() {
  if (timer_) timer_->Stop();
  if (io_) io_->Shutdown();
}

bool TieredCache::Submit(std::function<void()> task) {
  if (io_ && io_->TrySubmit(std::move(task))) return true;
  io_rejected_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

CachedImagePtr TieredCache::Decode(Slot& slot, const std::string& key, std::string bytes,
                                   int64_t* created) {
  auto decoded = DecodeEntry(std::move(bytes), key);
  if (!decoded) {
    slot.Problem("decode", decoded.error().message);
    // Best effort: a garbage entry would otherwise be read (and refused) again and again.
    slot.Guard("erase", [&] { return slot.tier->Erase(key); });
    return nullptr;
  }
  if (config_.ttl.count() > 0 && decoded->created_unix + config_.ttl.count() < UnixNow()) {
    slot.Guard("erase", [&] { return slot.tier->Erase(key); });
    return nullptr;
  }
  *created = decoded->created_unix;
  return std::move(decoded->image);
}

void TieredCache::Find(const std::string& key, std::function<void(Found)> done) {
  Look(key, std::move(done), /*claim=*/true);
}

void TieredCache::Peek(const std::string& key, std::function<void(Found)> done) {
  Look(key, std::move(done), /*claim=*/false);
}

void TieredCache::Look(const std::string& key, std::function<void(Found)> done, bool claim) {
  if (slots_.empty()) return done(Found{});
  auto shared_done = std::make_shared<std::function<void(Found)>>(std::move(done));
  if (!Submit([this, key, shared_done, claim] { LookOnIo(key, *shared_done, claim); })) {
    (*shared_done)(Found{});
  }
}

void TieredCache::LookOnIo(const std::string& key, const std::function<void(Found)>& done,
                           bool claim) {
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = *slots_[i];
    auto bytes = slot.Guard("get", [&] { return slot.tier->Get(key); });
    if (!bytes) continue;
    int64_t created = 0;
    CachedImagePtr image = *bytes ? Decode(slot, key, **std::move(bytes), &created) : nullptr;
    if (!image) {
      slot.misses.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    slot.hits.fetch_add(1, std::memory_order_relaxed);
    Backfill(key, image, created, i);
    return done(Found{std::move(image), std::string(slot.tier->name())});
  }
  if (!claim) return done(Found{});
  Claim(key, done);
}

void TieredCache::Claim(const std::string& key, std::function<void(Found)> done) {
  if (!shared_) return done(Found{});
  auto answer =
      shared_slot_->Guard("lease", [&] { return shared_->TryLease(key, config_.lease_ttl); });
  if (!answer) return done(Found{});
  if (answer->entry) {
    int64_t created = 0;
    if (auto image = Decode(*shared_slot_, key, *std::move(answer->entry), &created)) {
      // Another node stored it between our look-up and the lease: nothing to render.
      if (answer->acquired) {
        shared_slot_->Guard("release", [&] { return shared_->ReleaseLease(key); });
      }
      shared_slot_->hits.fetch_add(1, std::memory_order_relaxed);
      Backfill(key, image, created, 0);
      return done(Found{std::move(image), std::string(shared_->name())});
    }
  }
  if (answer->acquired) {
    leases_.fetch_add(1, std::memory_order_relaxed);
    return done(Found{nullptr, "", true});
  }
  lease_waits_.fetch_add(1, std::memory_order_relaxed);
  Wait(key, SteadyClock::now() + config_.lease_wait, std::move(done));
}

void TieredCache::Wait(const std::string& key, SteadyClock::time_point deadline,
                       std::function<void(Found)> done) {
  auto shared_done = std::make_shared<std::function<void(Found)>>(std::move(done));
  auto poll = [this, key, deadline, shared_done] {
    auto& done = *shared_done;
    auto answer = shared_slot_->Guard("poll", [&] { return shared_->Poll(key); });
    if (!answer) return done(Found{});
    if (answer->entry) {
      int64_t created = 0;
      if (auto image = Decode(*shared_slot_, key, *std::move(answer->entry), &created)) {
        shared_slot_->hits.fetch_add(1, std::memory_order_relaxed);
        Backfill(key, image, created, 0);
        return done(Found{std::move(image), std::string(shared_->name())});
      }
    }
    // The holder gave up without a value (its render failed, or it died): take over.
    if (!answer->leased) return Claim(key, std::move(done));
    if (SteadyClock::now() >= deadline) {
      lease_timeouts_.fetch_add(1, std::memory_order_relaxed);
      return done(Found{});
    }
    Wait(key, deadline, std::move(done));
  };
  auto submit = [this, poll, shared_done]() mutable {
    if (!Submit(std::move(poll))) (*shared_done)(Found{});
  };
  if (!timer_->Schedule(config_.lease_poll, submit)) (*shared_done)(Found{});
}

void TieredCache::Backfill(const std::string& key, const CachedImagePtr& image, int64_t created,
                           size_t above) {
  memory_.Put(key, image);
  if (above == 0) return;
  Submit([this, key, image, created, above] { WriteBehind(key, image, created, above); });
}

void TieredCache::WriteBehind(const std::string& key, const CachedImagePtr& image, int64_t created,
                              size_t end) {
  const std::string entry = EncodeEntry(key, *image, created);
  for (size_t i = 0; i < end && i < slots_.size(); ++i) {
    Slot& slot = *slots_[i];
    auto stored = slot.Guard("put", [&] { return slot.tier->Put(key, entry); });
    if (!stored) continue;
    (*stored ? slot.writes : slot.declined).fetch_add(1, std::memory_order_relaxed);
  }
}

void TieredCache::Store(const std::string& key, CachedImagePtr image) {
  if (!image) return;
  memory_.Put(key, image);
  if (slots_.empty()) return;
  const int64_t created = UnixNow();
  Submit([this, key, image = std::move(image), created] {
    WriteBehind(key, image, created, slots_.size());
  });
}

void TieredCache::Abandon(const std::string& key) {
  if (!shared_) return;
  Submit(
      [this, key] { shared_slot_->Guard("release", [&] { return shared_->ReleaseLease(key); }); });
}

std::optional<uint64_t> TieredCache::CachedGeneration(const std::string& source) {
  std::lock_guard lock(gen_mu_);
  auto it = generations_.find(source);
  if (!shared_) return it == generations_.end() ? 0 : it->second.value;
  if (it == generations_.end() || it->second.epoch != epoch_.load(std::memory_order_acquire)) {
    return std::nullopt;
  }
  return it->second.value;
}

void TieredCache::FetchGeneration(const std::string& source, std::function<void(uint64_t)> done) {
  auto last_known = [this, source] {
    std::lock_guard lock(gen_mu_);
    auto it = generations_.find(source);
    return it == generations_.end() ? uint64_t{0} : it->second.value;
  };
  if (!shared_) return done(last_known());
  auto shared_done = std::make_shared<std::function<void(uint64_t)>>(std::move(done));
  bool queued = Submit([this, source, shared_done, last_known] {
    // Read the epoch first: if a purge lands while the counter is being read, the entry is
    // stored under the older epoch and so is read again.
    const uint64_t epoch = epoch_.load(std::memory_order_acquire);
    auto value = shared_slot_->Guard(
        "generation", [&] { return shared_->GetCounter(GenerationCounter(source)); });
    if (!value) return (*shared_done)(last_known());
    {
      std::lock_guard lock(gen_mu_);
      if (generations_.size() >= config_.max_generations) generations_.clear();
      generations_[source] = Generation{*value, epoch};
    }
    (*shared_done)(*value);
  });
  if (!queued) (*shared_done)(last_known());
}

void TieredCache::Purge(const std::string& source,
                        std::function<void(common::Result<uint64_t>)> done) {
  if (!shared_) {
    uint64_t value;
    {
      std::lock_guard lock(gen_mu_);
      value = ++generations_[source].value;
    }
    purges_.fetch_add(1, std::memory_order_relaxed);
    return done(value);
  }
  auto shared_done =
      std::make_shared<std::function<void(common::Result<uint64_t>)>>(std::move(done));
  bool queued = Submit([this, source, shared_done] {
    auto value = shared_slot_->Guard("purge", [&] {
      return shared_->IncrementWithEpoch(GenerationCounter(source), kEpochCounter);
    });
    if (!value) {
      return (*shared_done)(Fail(ErrorCode::kUnavailable,
                                 "the shared cache is unreachable; nothing was purged, retry"));
    }
    {
      std::lock_guard lock(gen_mu_);
      generations_[source] = Generation{*value, epoch_.load(std::memory_order_acquire)};
    }
    purges_.fetch_add(1, std::memory_order_relaxed);
    (*shared_done)(*value);
  });
  if (!queued) (*shared_done)(Fail(ErrorCode::kOverloaded, "server is busy, retry shortly"));
}

void TieredCache::PollEpoch() {
  Submit([this] {
    auto epoch = shared_slot_->Guard("epoch", [&] { return shared_->GetCounter(kEpochCounter); });
    // Entries read under another epoch become stale by themselves: nothing to walk here.
    if (epoch) epoch_.store(*epoch, std::memory_order_release);
  });
  timer_->Schedule(config_.generation_poll, [this] { PollEpoch(); });
}

std::vector<TieredCache::TierStats> TieredCache::Stats() const {
  std::vector<TierStats> out;
  for (const auto& slot : slots_) {
    auto load = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); };
    out.push_back(TierStats{std::string(slot->tier->name()), load(slot->hits), load(slot->misses),
                            load(slot->errors), load(slot->skipped), load(slot->writes),
                            load(slot->declined), !slot->breaker.open()});
  }
  return out;
}

TieredCache::FleetStats TieredCache::fleet_stats() const {
  auto load = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); };
  return FleetStats{load(leases_), load(lease_waits_), load(lease_timeouts_), load(purges_),
                    load(io_rejected_)};
}

}  // namespace imgorigin::cache
