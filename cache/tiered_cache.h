// TieredCache: the read-through, write-behind chain memory → shared → disk → [S3 results], the
// fleet-wide render lease, and the per-source purge generations.
//
// The memory tier stays synchronous: callers (the event loops) read it directly, and Store()
// puts into it before returning. Every slower tier is reached only from the cache's own I/O
// pool, so no loop ever waits on a socket or a disk: Find(), FetchGeneration() and Purge()
// answer through a callback that runs on an I/O thread (or inline, at once, when there is
// nothing slower than memory or the pool is full); callers post back to their loop from it.
//
// Each slower tier sits behind a circuit breaker with hit/miss/error counters and rate-limited
// logging: a tier that fails, times out or returns bytes that do not decode is a miss, never an
// error for the request. The cache owns those tiers, its I/O pool and a timer thread (lease
// polls, generation polls); the memory tier is the caller's and must outlive the cache. Every
// public member may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/circuit_breaker.h"
#include "cache/memory_tier.h"
#include "cache/tier.h"
#include "common/status.h"
#include "common/thread_pool.h"

namespace imgorigin::cache {

class TieredCache {
 public:
  struct Config {
    size_t io_threads = 16;  // blocking tier calls in flight at once
    size_t io_queue = 4096;  // waiting beyond those; then look-ups skip to rendering
    std::chrono::seconds ttl{30 * 24 * 3600};      // entries older than this are misses in any tier
    std::chrono::milliseconds lease_ttl{15'000};   // a render lease expires on its own after this
    std::chrono::milliseconds lease_wait{10'000};  // longest wait for another node's render
    std::chrono::milliseconds lease_poll{50};      // how often a waiting node looks again
    // How often the purge epoch is read: the bound on how long another node's purge can go
    // unseen here.
    std::chrono::milliseconds generation_poll{1'000};
    size_t max_generations = 100'000;  // sources whose generation is remembered locally
    int breaker_failures = 3;
    std::chrono::milliseconds breaker_cooldown{2'000};
    common::Result<void> Validate() const;
  };

  // `below` is the chain under the shared tier, fastest first (disk, then S3 results). `shared`
  // may be null: purge and coalescing are then this node's alone.
  TieredCache(Config config, MemoryTier& memory, std::unique_ptr<SharedTier> shared,
              std::vector<std::unique_ptr<Tier>> below);
  ~TieredCache();  // Shutdown()
  TieredCache(const TieredCache&) = delete;
  TieredCache& operator=(const TieredCache&) = delete;

  // Runs what the timer still holds, finishes queued writes, joins the threads. Idempotent.
  // Callbacks arriving after it answer "render" at once.
  void Shutdown();

  MemoryTier& memory() { return memory_; }
  bool has_shared() const { return shared_ != nullptr; }

  struct Found {
    CachedImagePtr image;     // null: render it (then Store(), or Abandon() if that fails)
    std::string tier;         // the tier that answered: "redis", "memcached", "disk", "s3"
    bool lease_held = false;  // this node holds the fleet-wide lease for the key
  };
  // Looks `key` up below memory, backfilling faster tiers on a hit. On a miss with a shared
  // tier, takes the render lease, or waits (polling, up to lease_wait) for the node that holds
  // it; after that wait the caller renders without a lease.
  void Find(const std::string& key, std::function<void(Found)> done);
  // Looks `key` up below memory as Find() does, but never takes or waits for the render lease,
  // so a miss answers at once: for a caller that will not render on a miss (a stand-in for a
  // variant that cannot be rendered now).
  void Peek(const std::string& key, std::function<void(Found)> done);
  // Puts into memory now; into every slower tier write-behind (which also releases the lease).
  void Store(const std::string& key, CachedImagePtr image);
  // The render for `key` failed: release the lease so waiting nodes stop waiting.
  void Abandon(const std::string& key);

  // The generation of `source` when it is known fresh (always, without a shared tier);
  // nullopt means FetchGeneration() is needed.
  std::optional<uint64_t> CachedGeneration(const std::string& source);
  // Reads the generation from the shared tier; if that fails, the last one known (or 0).
  void FetchGeneration(const std::string& source, std::function<void(uint64_t)> done);
  // Bumps the generation of `source` fleet-wide; answers the new one. Fails (nothing changed)
  // when the shared tier cannot be reached.
  void Purge(const std::string& source, std::function<void(common::Result<uint64_t>)> done);
  std::chrono::milliseconds purge_bound() const { return config_.generation_poll; }

  struct TierStats {
    std::string name;
    uint64_t hits = 0, misses = 0, errors = 0, skipped = 0, writes = 0, declined = 0;
    bool available = true;  // false while its circuit breaker is open
  };
  std::vector<TierStats> Stats() const;  // slower tiers only, fastest first
  struct FleetStats {
    uint64_t leases = 0, lease_waits = 0, lease_timeouts = 0, purges = 0, io_rejected = 0;
  };
  FleetStats fleet_stats() const;

 private:
  struct Slot;
  class Timer;
  struct Generation {
    uint64_t value = 0;
    uint64_t epoch = 0;  // the purge epoch it was read under; stale once the epoch moves on
  };

  bool Submit(std::function<void()> task);
  // Find() (claim: a miss goes on to the render lease) and Peek().
  void Look(const std::string& key, std::function<void(Found)> done, bool claim);
  void LookOnIo(const std::string& key, const std::function<void(Found)>& done, bool claim);
  void Claim(const std::string& key, std::function<void(Found)> done);
  void Wait(const std::string& key, std::chrono::steady_clock::time_point deadline,
            std::function<void(Found)> done);
  // Decodes `bytes` from `slot`; garbage is counted, logged and erased.
  CachedImagePtr Decode(Slot& slot, const std::string& key, std::string bytes, int64_t* created);
  void Backfill(const std::string& key, const CachedImagePtr& image, int64_t created, size_t above);
  void WriteBehind(const std::string& key, const CachedImagePtr& image, int64_t created,
                   size_t end);
  void PollEpoch();

  const Config config_;
  MemoryTier& memory_;
  std::vector<std::unique_ptr<Slot>> slots_;  // shared first (if any), then `below`
  SharedTier* shared_ = nullptr;
  Slot* shared_slot_ = nullptr;
  std::unique_ptr<common::ThreadPool> io_;
  std::unique_ptr<Timer> timer_;

  std::mutex gen_mu_;
  std::unordered_map<std::string, Generation> generations_;
  std::atomic<uint64_t> epoch_{0};

  std::atomic<uint64_t> leases_{0}, lease_waits_{0}, lease_timeouts_{0}, purges_{0},
      io_rejected_{0};
};

}  // namespace imgorigin::cache
