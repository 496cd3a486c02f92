// The Redis shared tier (hiredis, blocking connections used from TieredCache's I/O pool).
//
// Why blocking on a pool rather than hiredis' libevent adapter on the loops: every tier below
// memory then has the same shape (libmemcached and the disk have no async API anyway), a slow
// Redis can only ever hold I/O threads, never a loop, and command timeouts bound each call.
// Commands that belong together go out pipelined in one round trip (lease + read, value + lease
// release, poll of value + lease, generation + epoch increments).
//
// Connections live in a small pool (RedisClient): a broken or timed-out connection is dropped
// and the next call reconnects. Safe to call from any number of threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cache/redis_client.h"
#include "cache/tier.h"
#include "common/status.h"

namespace imgorigin::cache {

class RedisTier : public SharedTier {
 public:
  struct Config {
    std::string url;  // see RedisUrl
    std::chrono::milliseconds connect_timeout{250};
    std::chrono::milliseconds command_timeout{250};  // per round trip
    std::chrono::seconds ttl{30 * 24 * 3600};        // entries; 0 = no expiry
    std::string prefix = "imgorigin:";               // namespaces every key
    size_t max_idle_connections = 16;
    common::Result<void> Validate() const;
  };

  // Parses the URL; connects lazily, so a Redis that is down at start is not fatal.
  static common::Result<std::unique_ptr<RedisTier>> Create(Config config);

  std::string_view name() const override { return "redis"; }
  common::Result<std::optional<std::string>> Get(const std::string& key) override;
  common::Result<bool> Put(const std::string& key, std::string_view entry) override;
  common::Result<void> Erase(const std::string& key) override;
  common::Result<LeaseAnswer> TryLease(const std::string& key,
                                       std::chrono::milliseconds ttl) override;
  common::Result<PollAnswer> Poll(const std::string& key) override;
  common::Result<void> ReleaseLease(const std::string& key) override;
  common::Result<uint64_t> GetCounter(const std::string& name) override;
  common::Result<uint64_t> IncrementWithEpoch(const std::string& name,
                                              const std::string& epoch) override;

  class PassKey {
    friend class RedisTier;
    PassKey() = default;
  };
  RedisTier(PassKey, Config config, std::unique_ptr<RedisClient> client);

 private:
  using Command = RedisClient::Command;
  using ReplyPtr = RedisClient::ReplyPtr;

  std::string ValueKey(const std::string& key) const { return config_.prefix + "v:" + key; }
  std::string LeaseKey(const std::string& key) const { return config_.prefix + "l:" + key; }

  const Config config_;
  const std::unique_ptr<RedisClient> client_;
};

}  // namespace imgorigin::cache
