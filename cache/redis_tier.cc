#include "cache/redis_tier.h"

#include <sys/time.h>

#include <charconv>

namespace imgorigin::cache {
namespace {

using common::ErrorCode;
using common::Fail;

timeval ToTimeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

common::Error RedisError(std::string what) {
  return common::Error{ErrorCode::kUnavailable, "redis: " + std::move(what)};
}

// A GET reply: a string is a value, nil a miss, anything else garbage.
common::Result<std::optional<std::string>> AsValue(const redisReply& reply) {
  if (reply.type == REDIS_REPLY_NIL) return std::nullopt;
  if (reply.type != REDIS_REPLY_STRING) return std::unexpected(RedisError("unexpected reply type"));
  return std::string(reply.str, reply.len);
}

common::Result<uint64_t> AsCounter(const redisReply& reply) {
  if (reply.type == REDIS_REPLY_NIL) return 0;
  if (reply.type == REDIS_REPLY_INTEGER && reply.integer >= 0) {
    return static_cast<uint64_t>(reply.integer);
  }
  if (reply.type == REDIS_REPLY_STRING) {
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(reply.str, reply.str + reply.len, value);
    if (ec == std::errc() && end == reply.str + reply.len) return value;
  }
  return std::unexpected(RedisError("counter is not a number"));
}

}  // namespace

common::Result<RedisUrl> RedisUrl::Parse(std::string_view url) {
  // Messages never repeat the URL: it may hold the password.
  auto bad = [](std::string_view why) {
    return Fail(ErrorCode::kInvalidArgument,
                "redis URL: " + std::string(why) + " (expected redis://[:password@]host:port/db)");
  };
  constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme)) return bad("unsupported scheme");
  std::string_view rest = url.substr(kScheme.size());
  RedisUrl out;
  if (size_t at = rest.rfind('@'); at != rest.npos) {
    // ":password" or "user:password" (Redis 6 ACL users are not supported: the user is ignored).
    std::string_view auth = rest.substr(0, at);
    size_t colon = auth.find(':');
    out.password = colon == auth.npos ? auth : auth.substr(colon + 1);
    rest = rest.substr(at + 1);
  }
  if (size_t slash = rest.find('/'); slash != rest.npos) {
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), out.db);
      if (ec != std::errc() || end != db.data() + db.size() || out.db < 0) {
        return bad("the database must be a number");
      }
    }
    rest = rest.substr(0, slash);
  }
  std::string_view host = rest;
  std::optional<std::string_view> port;
  if (rest.starts_with('[')) {  // [IPv6]:port
    size_t close = rest.find(']');
    if (close == rest.npos) return bad("unclosed [");
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("unexpected text after ]");
      port = after.substr(1);
    }
  } else if (size_t colon = rest.rfind(':'); colon != rest.npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (port) {
    auto [end, ec] = std::from_chars(port->data(), port->data() + port->size(), out.port);
    if (ec != std::errc() || end != port->data() + port->size() || out.port == 0) {
      return bad("bad port");
    }
  }
  if (host.empty()) return bad("no host");
  out.host = host;
  return out;
}

common::Result<void> RedisTier::Config::Validate() const {
  if (auto parsed = RedisUrl::Parse(url); !parsed) return std::unexpected(parsed.error());
  if (connect_timeout.count() <= 0 || command_timeout.count() <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "redis timeouts must be positive");
  }
  return {};
}

common::Result<std::unique_ptr<RedisTier>> RedisTier::Create(Config config) {
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  auto url = *RedisUrl::Parse(config.url);
  return std::make_unique<RedisTier>(PassKey{}, std::move(config), std::move(url));
}

RedisTier::RedisTier(PassKey, Config config, RedisUrl url)
    : config_(std::move(config)), url_(std::move(url)) {}

common::Result<RedisTier::ContextPtr> RedisTier::Connect() const {
  ContextPtr c(
      redisConnectWithTimeout(url_.host.c_str(), url_.port, ToTimeval(config_.connect_timeout)));
  if (!c) return std::unexpected(RedisError("out of memory"));
  if (c->err) return std::unexpected(RedisError(std::string("connect: ") + c->errstr));
  if (redisSetTimeout(c.get(), ToTimeval(config_.command_timeout)) != REDIS_OK) {
    return std::unexpected(RedisError("cannot set the command timeout"));
  }
  const std::string db = std::to_string(url_.db);
  std::vector<Command> setup;
  if (!url_.password.empty()) setup.push_back({"AUTH", url_.password});
  if (url_.db != 0) setup.push_back({"SELECT", db});
  for (const auto& cmd : setup) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto arg : cmd) {
      argv.push_back(arg.data());
      lens.push_back(arg.size());
    }
    redisAppendCommandArgv(c.get(), static_cast<int>(argv.size()), argv.data(), lens.data());
  }
  for (size_t i = 0; i < setup.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(c.get(), &raw) != REDIS_OK) {
      return std::unexpected(RedisError(std::string("setup: ") + c->errstr));
    }
    ReplyPtr reply(static_cast<redisReply*>(raw));
    if (reply->type == REDIS_REPLY_ERROR) {
      // The server's text (e.g. "WRONGPASS") is what the operator needs; it holds no secret.
      return std::unexpected(
          RedisError(std::string(setup[i][0]) + ": " + std::string(reply->str, reply->len)));
    }
  }
  return c;
}

common::Result<std::vector<RedisTier::ReplyPtr>> RedisTier::Pipeline(
    const std::vector<Command>& commands) {
  ContextPtr c;
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      c = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!c) {
    auto connected = Connect();
    if (!connected) return std::unexpected(connected.error());
    c = *std::move(connected);
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& cmd : commands) {
    argv.clear();
    lens.clear();
    for (auto arg : cmd) {
      argv.push_back(arg.data());
      lens.push_back(arg.size());
    }
    if (redisAppendCommandArgv(c.get(), static_cast<int>(argv.size()), argv.data(), lens.data()) !=
        REDIS_OK) {
      return std::unexpected(RedisError("cannot queue a command"));
    }
  }
  std::vector<ReplyPtr> replies;
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    // On failure (timeout, reset) the context is dropped with `c`: its stream position is lost.
    if (redisGetReply(c.get(), &raw) != REDIS_OK) {
      return std::unexpected(RedisError(c->errstr[0] ? c->errstr : "no reply"));
    }
    replies.emplace_back(static_cast<redisReply*>(raw));
  }
  {
    std::lock_guard lock(mu_);
    if (idle_.size() < config_.max_idle_connections) idle_.push_back(std::move(c));
  }
  for (const auto& reply : replies) {
    if (reply->type == REDIS_REPLY_ERROR) {
      return std::unexpected(RedisError(std::string(reply->str, reply->len)));
    }
  }
  return replies;
}

common::Result<std::optional<std::string>> RedisTier::Get(const std::string& key) {
  const std::string vk = ValueKey(key);
  auto replies = Pipeline({{"GET", vk}});
  if (!replies) return std::unexpected(replies.error());
  return AsValue(*(*replies)[0]);
}

common::Result<bool> RedisTier::Put(const std::string& key, std::string_view entry) {
  const std::string vk = ValueKey(key), lk = LeaseKey(key);
  const std::string ttl_ms =
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(config_.ttl).count());
  // The lease goes only after the value is visible: a waiting node must never see neither.
  Command set = {"SET", vk, entry};
  if (config_.ttl.count() > 0) set.insert(set.end(), {"PX", ttl_ms});
  auto replies = Pipeline({set, {"DEL", lk}});
  if (!replies) return std::unexpected(replies.error());
  return true;
}

common::Result<void> RedisTier::Erase(const std::string& key) {
  const std::string vk = ValueKey(key);
  auto replies = Pipeline({{"DEL", vk}});
  if (!replies) return std::unexpected(replies.error());
  return {};
}

common::Result<SharedTier::LeaseAnswer> RedisTier::TryLease(const std::string& key,
                                                            std::chrono::milliseconds ttl) {
  const std::string vk = ValueKey(key), lk = LeaseKey(key);
  const std::string ttl_ms = std::to_string(std::max<int64_t>(1, ttl.count()));
  auto replies = Pipeline({{"SET", lk, "1", "NX", "PX", ttl_ms}, {"GET", vk}});
  if (!replies) return std::unexpected(replies.error());
  const redisReply& lease = *(*replies)[0];
  if (lease.type != REDIS_REPLY_STATUS && lease.type != REDIS_REPLY_NIL) {
    return std::unexpected(RedisError("unexpected reply to SET NX"));
  }
  auto value = AsValue(*(*replies)[1]);
  if (!value) return std::unexpected(value.error());
  return LeaseAnswer{lease.type == REDIS_REPLY_STATUS, *std::move(value)};
}

common::Result<SharedTier::PollAnswer> RedisTier::Poll(const std::string& key) {
  const std::string vk = ValueKey(key), lk = LeaseKey(key);
  auto replies = Pipeline({{"GET", vk}, {"EXISTS", lk}});
  if (!replies) return std::unexpected(replies.error());
  auto value = AsValue(*(*replies)[0]);
  if (!value) return std::unexpected(value.error());
  const redisReply& exists = *(*replies)[1];
  if (exists.type != REDIS_REPLY_INTEGER) {
    return std::unexpected(RedisError("unexpected reply to EXISTS"));
  }
  return PollAnswer{*std::move(value), exists.integer > 0};
}

common::Result<void> RedisTier::ReleaseLease(const std::string& key) {
  const std::string lk = LeaseKey(key);
  auto replies = Pipeline({{"DEL", lk}});
  if (!replies) return std::unexpected(replies.error());
  return {};
}

common::Result<uint64_t> RedisTier::GetCounter(const std::string& name) {
  const std::string k = config_.prefix + name;
  auto replies = Pipeline({{"GET", k}});
  if (!replies) return std::unexpected(replies.error());
  return AsCounter(*(*replies)[0]);
}

common::Result<uint64_t> RedisTier::IncrementWithEpoch(const std::string& name,
                                                       const std::string& epoch) {
  const std::string k = config_.prefix + name, e = config_.prefix + epoch;
  auto replies = Pipeline({{"INCR", k}, {"INCR", e}});
  if (!replies) return std::unexpected(replies.error());
  return AsCounter(*(*replies)[0]);
}

}  // namespace imgorigin::cache
