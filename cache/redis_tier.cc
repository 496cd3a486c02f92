#include "cache/redis_tier.h"

#include <charconv>

namespace imgorigin::cache {
namespace {

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

common::Result<void> RedisTier::Config::Validate() const {
  return RedisClient::Config{.url = url,
                             .connect_timeout = connect_timeout,
                             .command_timeout = command_timeout,
                             .max_idle_connections = max_idle_connections}
      .Validate();
}

common::Result<std::unique_ptr<RedisTier>> RedisTier::Create(Config config) {
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  auto client = RedisClient::Create({.url = config.url,
                                     .connect_timeout = config.connect_timeout,
                                     .command_timeout = config.command_timeout,
                                     .max_idle_connections = config.max_idle_connections});
  if (!client) return std::unexpected(client.error());
  return std::make_unique<RedisTier>(PassKey{}, std::move(config), *std::move(client));
}

RedisTier::RedisTier(PassKey, Config config, std::unique_ptr<RedisClient> client)
    : config_(std::move(config)), client_(std::move(client)) {}

common::Result<std::optional<std::string>> RedisTier::Get(const std::string& key) {
  const std::string vk = ValueKey(key);
  auto replies = client_->Pipeline({{"GET", vk}});
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
  auto replies = client_->Pipeline({set, {"DEL", lk}});
  if (!replies) return std::unexpected(replies.error());
  return true;
}

common::Result<void> RedisTier::Erase(const std::string& key) {
  const std::string vk = ValueKey(key);
  auto replies = client_->Pipeline({{"DEL", vk}});
  if (!replies) return std::unexpected(replies.error());
  return {};
}

common::Result<SharedTier::LeaseAnswer> RedisTier::TryLease(const std::string& key,
                                                            std::chrono::milliseconds ttl) {
  const std::string vk = ValueKey(key), lk = LeaseKey(key);
  const std::string ttl_ms = std::to_string(std::max<int64_t>(1, ttl.count()));
  auto replies = client_->Pipeline({{"SET", lk, "1", "NX", "PX", ttl_ms}, {"GET", vk}});
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
  auto replies = client_->Pipeline({{"GET", vk}, {"EXISTS", lk}});
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
  auto replies = client_->Pipeline({{"DEL", lk}});
  if (!replies) return std::unexpected(replies.error());
  return {};
}

common::Result<uint64_t> RedisTier::GetCounter(const std::string& name) {
  const std::string k = config_.prefix + name;
  auto replies = client_->Pipeline({{"GET", k}});
  if (!replies) return std::unexpected(replies.error());
  return AsCounter(*(*replies)[0]);
}

common::Result<uint64_t> RedisTier::IncrementWithEpoch(const std::string& name,
                                                       const std::string& epoch) {
  const std::string k = config_.prefix + name, e = config_.prefix + epoch;
  auto replies = client_->Pipeline({{"INCR", k}, {"INCR", e}});
  if (!replies) return std::unexpected(replies.error());
  return AsCounter(*(*replies)[0]);
}

}  // namespace imgorigin::cache
