// The memcached shared tier (libmemcached, blocking, used from TieredCache's I/O pool).
//
// Several servers, keys spread by consistent ketama hashing (MD5, the scheme other ketama
// clients use, so a mixed fleet agrees on placement), binary protocol (needed for increment
// with an initial value). Entries larger than the item limit (memcached's -I, 1 MiB by default)
// are skipped, not chunked: chunks would be evicted independently, turning one miss into
// several round trips that end in a miss anyway, and large results still land on disk and S3.
//
// memcached_st is not thread-safe, so each call borrows a clone from a small pool; a clone that
// saw a connection error is dropped, so the next call reconnects. Safe from any number of
// threads.
//
// Purge generations live in memcached as counters too; memcached may evict them under memory
// pressure (they have no expiry but no protection either), which would resurrect purged
// variants. Redis, with a volatile-* eviction policy, does not have that weakness.
#pragma once

#include <libmemcached/memcached.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cache/tier.h"
#include "common/handle.h"
#include "common/status.h"

namespace imgorigin::cache {

class MemcachedTier : public SharedTier {
 public:
  struct Config {
    std::string servers;                        // "host:port,host:port"
    std::chrono::milliseconds timeout{250};     // connect and per-operation
    std::chrono::seconds ttl{30 * 24 * 3600};   // entries; 0 = no expiry
    size_t max_item_bytes = (1u << 20) - 1024;  // the server's -I minus item overhead
    std::string prefix = "imgorigin:";
    size_t max_idle_clients = 16;
    common::Result<void> Validate() const;
  };

  static common::Result<std::unique_ptr<MemcachedTier>> Create(Config config);

  std::string_view name() const override { return "memcached"; }
  common::Result<std::optional<std::string>> Get(const std::string& key) override;
  // Declines (false) entries over max_item_bytes.
  common::Result<bool> Put(const std::string& key, std::string_view entry) override;
  common::Result<void> Erase(const std::string& key) override;
  common::Result<LeaseAnswer> TryLease(const std::string& key,
                                       std::chrono::milliseconds ttl) override;
  common::Result<PollAnswer> Poll(const std::string& key) override;
  common::Result<void> ReleaseLease(const std::string& key) override;
  common::Result<uint64_t> GetCounter(const std::string& name) override;
  common::Result<uint64_t> IncrementWithEpoch(const std::string& name,
                                              const std::string& epoch) override;

  using ClientPtr = common::Handle<memcached_st, memcached_free>;

  class PassKey {
    friend class MemcachedTier;
    PassKey() = default;
  };
  MemcachedTier(PassKey, Config config, ClientPtr prototype);

 private:
  // A client borrowed for one call; it goes back to the pool unless the call saw a
  // connection-level failure.
  class Borrowed;

  std::string ValueKey(const std::string& key) const { return config_.prefix + "v:" + key; }
  std::string LeaseKey(const std::string& key) const { return config_.prefix + "l:" + key; }
  // memcached reads an expiry over 30 days as an absolute unix time.
  time_t Expiry(std::chrono::seconds ttl) const;

  const Config config_;
  ClientPtr prototype_;
  std::mutex mu_;
  std::vector<ClientPtr> idle_;
};

}  // namespace imgorigin::cache
