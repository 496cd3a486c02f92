#include "cache/redis_client.h"

#include <sys/time.h>

#include <charconv>
#include <optional>

namespace imgorigin::cache {
namespace {

using common::ErrorCode;
using common::Fail;

timeval ToTimeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

bool Append(redisContext* c, const RedisClient::Command& command) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (auto arg : command) {
    argv.push_back(arg.data());
    lens.push_back(arg.size());
  }
  return redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()) ==
         REDIS_OK;
}

}  // namespace

common::Error RedisError(std::string what) {
  return common::Error{ErrorCode::kUnavailable, "redis: " + std::move(what)};
}

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

common::Result<void> RedisClient::Config::Validate() const {
  if (auto parsed = RedisUrl::Parse(url); !parsed) return std::unexpected(parsed.error());
  if (connect_timeout.count() <= 0 || command_timeout.count() <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "redis timeouts must be positive");
  }
  return {};
}

common::Result<std::unique_ptr<RedisClient>> RedisClient::Create(Config config) {
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  auto url = *RedisUrl::Parse(config.url);
  return std::make_unique<RedisClient>(PassKey{}, std::move(config), std::move(url));
}

RedisClient::RedisClient(PassKey, Config config, RedisUrl url)
    : config_(std::move(config)), url_(std::move(url)) {}

common::Result<RedisClient::ContextPtr> RedisClient::Connect() const {
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
    if (!Append(c.get(), cmd)) return std::unexpected(RedisError("cannot queue a command"));
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

common::Result<std::vector<RedisClient::ReplyPtr>> RedisClient::Pipeline(
    const std::vector<Command>& commands, std::chrono::milliseconds extra_timeout) {
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
  if (extra_timeout.count() > 0 &&
      redisSetTimeout(c.get(), ToTimeval(config_.command_timeout + extra_timeout)) != REDIS_OK) {
    return std::unexpected(RedisError("cannot set the command timeout"));
  }
  for (const auto& cmd : commands) {
    if (!Append(c.get(), cmd)) return std::unexpected(RedisError("cannot queue a command"));
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
  const bool reusable = extra_timeout.count() == 0 ||
                        redisSetTimeout(c.get(), ToTimeval(config_.command_timeout)) == REDIS_OK;
  if (reusable) {
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

}  // namespace imgorigin::cache
