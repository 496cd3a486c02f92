#include "cache/memcached_tier.h"

#include <charconv>
#include <cstdlib>
#include <ctime>

namespace imgorigin::cache {
namespace {

using common::ErrorCode;
using common::Fail;

common::Error McError(const memcached_st* m, memcached_return_t rc) {
  return common::Error{ErrorCode::kUnavailable,
                       std::string("memcached: ") + memcached_strerror(m, rc)};
}

// Parses "host:port,host:port" into (host, port) pairs.
common::Result<std::vector<std::pair<std::string, in_port_t>>> ParseServers(std::string_view text) {
  std::vector<std::pair<std::string, in_port_t>> out;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) {
      size_t colon = item.rfind(':');
      in_port_t port = 11211;
      std::string_view host = item;
      if (colon != item.npos) {
        std::string_view p = item.substr(colon + 1);
        auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
        if (ec != std::errc() || end != p.data() + p.size() || port == 0) {
          return Fail(ErrorCode::kInvalidArgument,
                      "memcached servers: bad port in \"" + std::string(item) + "\"");
        }
        host = item.substr(0, colon);
      }
      if (host.empty()) {
        return Fail(ErrorCode::kInvalidArgument,
                    "memcached servers: no host in \"" + std::string(item) + "\"");
      }
      out.emplace_back(std::string(host), port);
    }
    if (comma == text.npos) break;
    text.remove_prefix(comma + 1);
  }
  if (out.empty()) return Fail(ErrorCode::kInvalidArgument, "memcached servers: none given");
  return out;
}

}  // namespace

class MemcachedTier::Borrowed {
 public:
  explicit Borrowed(MemcachedTier& tier) : tier_(tier) {
    {
      std::lock_guard lock(tier_.mu_);
      if (!tier_.idle_.empty()) {
        client_ = std::move(tier_.idle_.back());
        tier_.idle_.pop_back();
      }
    }
    if (!client_) client_.reset(memcached_clone(nullptr, tier_.prototype_.get()));
  }
  ~Borrowed() {
    if (!client_ || broken_) return;
    std::lock_guard lock(tier_.mu_);
    if (tier_.idle_.size() < tier_.config_.max_idle_clients) {
      tier_.idle_.push_back(std::move(client_));
    }
  }
  Borrowed(const Borrowed&) = delete;
  Borrowed& operator=(const Borrowed&) = delete;

  memcached_st* get() const { return client_.get(); }
  // Records `rc`: a fatal code (connection lost, timeout) retires this client.
  memcached_return_t Check(memcached_return_t rc) {
    if (memcached_fatal(rc)) broken_ = true;
    return rc;
  }

 private:
  MemcachedTier& tier_;
  ClientPtr client_;
  bool broken_ = false;
};

common::Result<void> MemcachedTier::Config::Validate() const {
  if (auto parsed = ParseServers(servers); !parsed) return std::unexpected(parsed.error());
  if (timeout.count() <= 0)
    return Fail(ErrorCode::kInvalidArgument, "memcached timeout must be > 0");
  return {};
}

common::Result<std::unique_ptr<MemcachedTier>> MemcachedTier::Create(Config config) {
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  ClientPtr m(memcached_create(nullptr));
  if (!m) return Fail(ErrorCode::kInternal, "memcached: out of memory");
  const auto servers = ParseServers(config.servers);  // validated above
  for (const auto& [host, port] : *servers) {
    if (auto rc = memcached_server_add(m.get(), host.c_str(), port); memcached_failed(rc)) {
      return std::unexpected(McError(m.get(), rc));
    }
  }
  const auto ms = static_cast<uint64_t>(config.timeout.count());
  const std::pair<memcached_behavior_t, uint64_t> behaviours[] = {
      {MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1},
      {MEMCACHED_BEHAVIOR_KETAMA, 1},  // consistent distribution with MD5 points
      {MEMCACHED_BEHAVIOR_TCP_NODELAY, 1},
      {MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, ms},
      {MEMCACHED_BEHAVIOR_POLL_TIMEOUT, ms},
      {MEMCACHED_BEHAVIOR_SND_TIMEOUT, ms * 1000},
      {MEMCACHED_BEHAVIOR_RCV_TIMEOUT, ms * 1000},
      // A dead server is retried after a second rather than on every call; TieredCache's
      // circuit breaker covers the case of every server being down.
      {MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 1},
  };
  for (const auto& [behaviour, value] : behaviours) {
    if (auto rc = memcached_behavior_set(m.get(), behaviour, value); memcached_failed(rc)) {
      return std::unexpected(McError(m.get(), rc));
    }
  }
  return std::make_unique<MemcachedTier>(PassKey{}, std::move(config), std::move(m));
}

MemcachedTier::MemcachedTier(PassKey, Config config, ClientPtr prototype)
    : config_(std::move(config)), prototype_(std::move(prototype)) {}

time_t MemcachedTier::Expiry(std::chrono::seconds ttl) const {
  constexpr int64_t kRelativeLimit = 30 * 24 * 3600;
  if (ttl.count() <= 0) return 0;
  if (ttl.count() <= kRelativeLimit) return static_cast<time_t>(ttl.count());
  return std::time(nullptr) + static_cast<time_t>(ttl.count());
}

namespace {

common::Result<std::optional<std::string>> GetValue(memcached_st* m, const std::string& key,
                                                    memcached_return_t* rc) {
  size_t length = 0;
  uint32_t flags = 0;
  common::Handle<char, ::free> value(memcached_get(m, key.data(), key.size(), &length, &flags, rc));
  if (*rc == MEMCACHED_NOTFOUND) return std::nullopt;
  if (memcached_failed(*rc)) return std::unexpected(McError(m, *rc));
  if (!value) return std::string();
  return std::string(value.get(), length);
}

}  // namespace

common::Result<std::optional<std::string>> MemcachedTier::Get(const std::string& key) {
  Borrowed client(*this);
  if (!client.get()) return Fail(ErrorCode::kInternal, "memcached: out of memory");
  memcached_return_t rc;
  auto value = GetValue(client.get(), ValueKey(key), &rc);
  client.Check(rc);
  return value;
}

common::Result<bool> MemcachedTier::Put(const std::string& key, std::string_view entry) {
  if (entry.size() > config_.max_item_bytes) return false;
  Borrowed client(*this);
  if (!client.get()) return Fail(ErrorCode::kInternal, "memcached: out of memory");
  const std::string vk = ValueKey(key), lk = LeaseKey(key);
  auto rc = client.Check(memcached_set(client.get(), vk.data(), vk.size(), entry.data(),
                                       entry.size(), Expiry(config_.ttl), 0));
  // E2BIG: the server's item limit is lower than configured; a decline, not an outage.
  if (rc == MEMCACHED_E2BIG) return false;
  if (memcached_failed(rc)) return std::unexpected(McError(client.get(), rc));
  // The lease goes only after the value is visible: a waiting node must never see neither.
  rc = client.Check(memcached_delete(client.get(), lk.data(), lk.size(), 0));
  if (memcached_failed(rc) && rc != MEMCACHED_NOTFOUND) {
    return std::unexpected(McError(client.get(), rc));
  }
  return true;
}

common::Result<void> MemcachedTier::Erase(const std::string& key) {
  Borrowed client(*this);
  if (!client.get()) return Fail(ErrorCode::kInternal, "memcached: out of memory");
  const std::string vk = ValueKey(key);
  auto rc = client.Check(memcached_delete(client.get(), vk.data(), vk.size(), 0));
  if (memcached_failed(rc) && rc != MEMCACHED_NOTFOUND) {
    return std::unexpected(McError(client.get(), rc));
  }
  return {};
}

common::Result<SharedTier::LeaseAnswer> MemcachedTier::TryLease(const std::string& key,
                                                                std::chrono::milliseconds ttl) {
  Borrowed client(*this);
  if (!client.get()) return Fail(ErrorCode::kInternal, "memcached: out of memory");
  const std::string lk = LeaseKey(key);
  // memcached expiries are whole seconds; round up so the lease is never shorter than asked.
  const auto seconds = std::chrono::ceil<std::chrono::seconds>(ttl);
  auto rc = client.Check(memcached_add(client.get(), lk.data(), lk.size(), "1", 1,
                                       Expiry(std::max(seconds, std::chrono::seconds(1))), 0));
  const bool acquired = rc == MEMCACHED_SUCCESS || rc == MEMCACHED_STORED;
  if (!acquired && rc != MEMCACHED_NOTSTORED && rc != MEMCACHED_DATA_EXISTS) {
    return std::unexpected(McError(client.get(), rc));
  }
  auto value = GetValue(client.get(), ValueKey(key), &rc);
  client.Check(rc);
  if (!value) return std::unexpected(value.error());
  return LeaseAnswer{acquired, *std::move(value)};
}

common::Result<SharedTier::PollAnswer> MemcachedTier::Poll(const std::string& key) {
  Borrowed client(*this);
  if (!client.get()) return Fail(ErrorCode::kInternal, "memcached: out of memory");
  memcached_return_t rc;
  auto value = GetValue(client.get(), ValueKey(key), &rc);
  client.Check(rc);
  if (!value) return std::unexpected(value.error());
  if (*value) return PollAnswer{*std::move(value), false};
  auto lease = GetValue(client.get(), LeaseKey(key), &rc);
  client.Check(rc);
  if (!lease) return std::unexpected(lease.error());
  return PollAnswer{std::nullopt, lease->has_value()};
}

common::Result<void> MemcachedTier::ReleaseLease(const std::string& key) {
  Borrowed client(*this);
  if (!client.get()) return Fail(ErrorCode::kInternal, "memcached: out of memory");
  const std::string lk = LeaseKey(key);
  auto rc = client.Check(memcached_delete(client.get(), lk.data(), lk.size(), 0));
  if (memcached_failed(rc) && rc != MEMCACHED_NOTFOUND) {
    return std::unexpected(McError(client.get(), rc));
  }
  return {};
}

common::Result<uint64_t> MemcachedTier::GetCounter(const std::string& name) {
  Borrowed client(*this);
  if (!client.get()) return Fail(ErrorCode::kInternal, "memcached: out of memory");
  memcached_return_t rc;
  auto value = GetValue(client.get(), config_.prefix + name, &rc);
  client.Check(rc);
  if (!value) return std::unexpected(value.error());
  if (!*value) return 0;
  // memcached keeps counters as decimal text, padded with spaces after a shrinking increment.
  std::string_view text = **value;
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Fail(ErrorCode::kUnavailable, "memcached: counter is not a number");
  }
  return n;
}

common::Result<uint64_t> MemcachedTier::IncrementWithEpoch(const std::string& name,
                                                           const std::string& epoch) {
  Borrowed client(*this);
  if (!client.get()) return Fail(ErrorCode::kInternal, "memcached: out of memory");
  const std::string k = config_.prefix + name, e = config_.prefix + epoch;
  uint64_t generation = 0, ignored = 0;
  auto rc = client.Check(
      memcached_increment_with_initial(client.get(), k.data(), k.size(), 1, 1, 0, &generation));
  if (memcached_failed(rc)) return std::unexpected(McError(client.get(), rc));
  rc = client.Check(
      memcached_increment_with_initial(client.get(), e.data(), e.size(), 1, 1, 0, &ignored));
  if (memcached_failed(rc)) return std::unexpected(McError(client.get(), rc));
  return generation;
}

}  // namespace imgorigin::cache
