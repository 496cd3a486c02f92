// The Redis shared tier (hiredis, blocking connections used from TieredCache's I/O pool).
//
// Why blocking on a pool rather than hiredis' libevent adapter on the loops: every tier below
// memory then has the same shape (libmemcached and the disk have no async API anyway), a slow
// Redis can only ever hold I/O threads, never a loop, and command timeouts bound each call.
// Commands that belong together go out pipelined in one round trip (lease + read, value + lease
// release, poll of value + lease, generation + epoch increments).
//
// Connections live in a small pool: a call borrows one (connecting, AUTH and SELECT on demand),
// and returns it only if every reply arrived, so a broken or timed-out connection is dropped
// and the next call reconnects. Safe to call from any number of threads.
#pragma once

#include <hiredis/hiredis.h>

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

// redis://[:password@]host[:port][/db]
struct RedisUrl {
  std::string host;
  uint16_t port = 6379;
  std::string password;
  int db = 0;

  static common::Result<RedisUrl> Parse(std::string_view url);
};

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

  using ContextPtr = common::Handle<redisContext, redisFree>;
  using ReplyPtr = common::Handle<redisReply, freeReplyObject>;
  using Command = std::vector<std::string_view>;  // views into the caller's strings

  class PassKey {
    friend class RedisTier;
    PassKey() = default;
  };
  RedisTier(PassKey, Config config, RedisUrl url);

 private:
  common::Result<ContextPtr> Connect() const;
  // Sends every command, then reads every reply; error replies are errors.
  common::Result<std::vector<ReplyPtr>> Pipeline(const std::vector<Command>& commands);

  std::string ValueKey(const std::string& key) const { return config_.prefix + "v:" + key; }
  std::string LeaseKey(const std::string& key) const { return config_.prefix + "l:" + key; }

  const Config config_;
  const RedisUrl url_;
  std::mutex mu_;
  std::vector<ContextPtr> idle_;
};

}  // namespace imgorigin::cache
