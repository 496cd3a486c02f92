// A pool of blocking hiredis connections to one Redis, shared by the Redis cache tier and the
// Redis job queue.
//
// A call borrows a connection (connecting, AUTH and SELECT on demand), sends its commands
// pipelined in one round trip, and returns the connection only if every reply arrived, so a
// broken or timed-out connection is dropped and the next call reconnects: a Redis that is down
// costs a caller at most connect_timeout, one that stops answering command_timeout, and either
// is kUnavailable. Calls never wait for each other: with no idle connection a call opens its own,
// and at most max_idle_connections are kept. Safe to call from any number of threads.
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

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

// kUnavailable "redis: <what>": every failure to talk to Redis is one to retry later.
common::Error RedisError(std::string what);

class RedisClient {
 public:
  struct Config {
    std::string url;  // see RedisUrl
    std::chrono::milliseconds connect_timeout{250};
    std::chrono::milliseconds command_timeout{250};  // per round trip
    size_t max_idle_connections = 16;
    common::Result<void> Validate() const;
  };

  // Parses the URL; connects lazily, so a Redis that is down at start is not fatal.
  static common::Result<std::unique_ptr<RedisClient>> Create(Config config);

  using ContextPtr = common::Handle<redisContext, redisFree>;
  using ReplyPtr = common::Handle<redisReply, freeReplyObject>;
  using Command = std::vector<std::string_view>;  // views into the caller's strings

  // Sends every command, then reads every reply; error replies are errors (kUnavailable with
  // the server's text). `extra_timeout` lengthens this round trip's timeout, for a command that
  // blocks on the server (XREAD BLOCK) for up to that long.
  common::Result<std::vector<ReplyPtr>> Pipeline(
      const std::vector<Command>& commands,
      std::chrono::milliseconds extra_timeout = std::chrono::milliseconds(0));

  class PassKey {
    friend class RedisClient;
    PassKey() = default;
  };
  RedisClient(PassKey, Config config, RedisUrl url);

 private:
  common::Result<ContextPtr> Connect() const;

  const Config config_;
  const RedisUrl url_;
  std::mutex mu_;
  std::vector<ContextPtr> idle_;
};

}  // namespace imgorigin::cache
