#include <gtest/gtest.h>

#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "cache/circuit_breaker.h"
#include "cache/entry_codec.h"
#include "cache/key.h"
#include "cache/redis_tier.h"
#include "cache/tiered_cache.h"

namespace imgorigin::cache {
namespace {

// An in-process SharedTier whose failures the test controls.
class FakeShared : public SharedTier {
 public:
  std::string_view name() const override { return "redis"; }
  common::Result<std::optional<std::string>> Get(const std::string& key) override {
    std::lock_guard lock(mu);
    if (down) return common::Fail(common::ErrorCode::kUnavailable, "down");
    ++gets;
    auto it = values.find(key);
    if (it == values.end()) return std::nullopt;
    return it->second;
  }
  common::Result<bool> Put(const std::string& key, std::string_view entry) override {
    std::lock_guard lock(mu);
    if (down) return common::Fail(common::ErrorCode::kUnavailable, "down");
    values[key] = entry;
    leases.erase(key);
    return true;
  }
  common::Result<void> Erase(const std::string& key) override {
    std::lock_guard lock(mu);
    values.erase(key);
    return {};
  }
  common::Result<LeaseAnswer> TryLease(const std::string& key, std::chrono::milliseconds) override {
    std::lock_guard lock(mu);
    if (down) return common::Fail(common::ErrorCode::kUnavailable, "down");
    bool acquired = leases.insert(key).second;
    auto it = values.find(key);
    return LeaseAnswer{acquired, it == values.end() ? std::nullopt : std::optional(it->second)};
  }
  common::Result<PollAnswer> Poll(const std::string& key) override {
    std::lock_guard lock(mu);
    auto it = values.find(key);
    return PollAnswer{it == values.end() ? std::nullopt : std::optional(it->second),
                      leases.count(key) > 0};
  }
  common::Result<void> ReleaseLease(const std::string& key) override {
    std::lock_guard lock(mu);
    leases.erase(key);
    return {};
  }
  common::Result<uint64_t> GetCounter(const std::string& name) override {
    std::lock_guard lock(mu);
    if (down) return common::Fail(common::ErrorCode::kUnavailable, "down");
    return counters[name];
  }
  common::Result<uint64_t> IncrementWithEpoch(const std::string& name,
                                              const std::string& epoch) override {
    std::lock_guard lock(mu);
    if (down) return common::Fail(common::ErrorCode::kUnavailable, "down");
    ++counters[epoch];
    return ++counters[name];
  }

  std::mutex mu;
  bool down = false;
  int gets = 0;
  std::map<std::string, std::string> values;
  std::set<std::string> leases;
  std::map<std::string, uint64_t> counters;
};

const std::string kKey = VariantKey("local:///a.jpg", 0, "w:10", "png");

CachedImagePtr Image() {
  auto image = std::make_shared<CachedImage>();
  image->body = common::MakeShared("png bytes");
  image->content_type = "image/png";
  image->etag = "\"e\"";
  return image;
}

TieredCache::Found FindNow(TieredCache& cache, const std::string& key) {
  std::promise<TieredCache::Found> found;
  cache.Find(key, [&found](TieredCache::Found f) { found.set_value(std::move(f)); });
  return found.get_future().get();
}

struct Fixture {
  explicit Fixture(TieredCache::Config config = {}) {
    auto owned = std::make_unique<FakeShared>();
    shared = owned.get();
    cache = std::make_unique<TieredCache>(config, memory, std::move(owned),
                                          std::vector<std::unique_ptr<Tier>>{});
  }
  MemoryTier memory{{.capacity_bytes = 1 << 20, .shards = 1}};
  FakeShared* shared;
  std::unique_ptr<TieredCache> cache;
};

TEST(TieredCacheTest, SharedHitIsDecodedAndBackfillsMemory) {
  Fixture f;
  f.shared->values[kKey] = EncodeEntry(kKey, *Image(), 1'900'000'000);
  auto found = FindNow(*f.cache, kKey);
  ASSERT_TRUE(found.image);
  EXPECT_EQ(found.tier, "redis");
  EXPECT_EQ(*found.image->body, "png bytes");
  EXPECT_TRUE(f.memory.Get(kKey));
  EXPECT_EQ(f.cache->Stats()[0].hits, 1u);
}

TEST(TieredCacheTest, GarbageIsAMissCountedAndErased) {
  Fixture f;
  f.shared->values[kKey] = "garbage that is not an entry";
  auto found = FindNow(*f.cache, kKey);
  EXPECT_FALSE(found.image);
  EXPECT_TRUE(found.lease_held);  // a miss: this caller renders
  EXPECT_EQ(f.cache->Stats()[0].errors, 1u);
  EXPECT_EQ(f.shared->values.count(kKey), 0u);
}

TEST(TieredCacheTest, SecondFinderWaitsForTheLeaseHoldersValue) {
  Fixture f({.lease_poll = std::chrono::milliseconds(5)});
  auto leader = FindNow(*f.cache, kKey);
  ASSERT_TRUE(leader.lease_held);
  std::promise<TieredCache::Found> waiter;
  f.cache->Find(kKey, [&waiter](TieredCache::Found found) { waiter.set_value(std::move(found)); });
  f.cache->Store(kKey, Image());  // the leader's render lands
  auto found = waiter.get_future().get();
  // Either the poll saw the shared value, or (if Store's write-behind won the race with the
  // look-up) the look-up did: both answer from the shared tier, neither renders.
  ASSERT_TRUE(found.image);
  EXPECT_EQ(found.tier, "redis");
}

TEST(TieredCacheTest, PeekAnswersHitsAndMissesWithoutTheLease) {
  Fixture f;
  auto peek = [&f] {
    std::promise<TieredCache::Found> found;
    f.cache->Peek(kKey, [&found](TieredCache::Found got) { found.set_value(std::move(got)); });
    return found.get_future().get();
  };
  auto miss = peek();
  EXPECT_FALSE(miss.image);
  EXPECT_FALSE(miss.lease_held);
  EXPECT_TRUE(f.shared->leases.empty());  // a renderer elsewhere is not kept waiting
  f.shared->values[kKey] = EncodeEntry(kKey, *Image(), 1'900'000'000);
  auto hit = peek();
  ASSERT_TRUE(hit.image);
  EXPECT_EQ(hit.tier, "redis");
  EXPECT_TRUE(f.memory.Get(kKey));  // backfilled as Find() does
}

TEST(TieredCacheTest, DownSharedTierIsSkippedByTheBreaker) {
  Fixture f({.breaker_failures = 2, .breaker_cooldown = std::chrono::minutes(1)});
  f.shared->down = true;
  for (int i = 0; i < 5; ++i) {
    auto found = FindNow(*f.cache, kKey);
    EXPECT_FALSE(found.image);
    EXPECT_FALSE(found.lease_held);
  }
  auto stats = f.cache->Stats()[0];
  EXPECT_GE(stats.errors, 2u);
  EXPECT_GT(stats.skipped, 0u);
}

TEST(TieredCacheTest, PurgeBumpsTheGenerationAndFailsCleanlyWhenDown) {
  Fixture f;
  std::promise<common::Result<uint64_t>> purged;
  f.cache->Purge("local:///a.jpg", [&](common::Result<uint64_t> g) { purged.set_value(g); });
  auto generation = purged.get_future().get();
  ASSERT_TRUE(generation);
  EXPECT_EQ(*generation, 1u);
  std::promise<uint64_t> fetched;
  f.cache->FetchGeneration("local:///a.jpg", [&](uint64_t g) { fetched.set_value(g); });
  EXPECT_EQ(fetched.get_future().get(), 1u);

  f.shared->down = true;
  std::promise<common::Result<uint64_t>> failed;
  f.cache->Purge("local:///a.jpg", [&](common::Result<uint64_t> g) { failed.set_value(g); });
  EXPECT_FALSE(failed.get_future().get());
}

TEST(TieredCacheTest, WithoutSharedTierPurgeIsLocal) {
  MemoryTier memory({.capacity_bytes = 1 << 20, .shards = 1});
  TieredCache cache({}, memory, nullptr, {});
  EXPECT_EQ(cache.CachedGeneration("local:///a.jpg"), 0u);
  std::promise<common::Result<uint64_t>> purged;
  cache.Purge("local:///a.jpg", [&](common::Result<uint64_t> g) { purged.set_value(g); });
  EXPECT_EQ(*purged.get_future().get(), 1u);
  EXPECT_EQ(cache.CachedGeneration("local:///a.jpg"), 1u);
  EXPECT_EQ(cache.CachedGeneration("local:///b.jpg"), 0u);
  auto found = FindNow(cache, kKey);  // nothing below memory: answered inline
  EXPECT_FALSE(found.image);
}

TEST(CircuitBreakerTest, OpensAfterFailuresAndProbesAfterCooldown) {
  CircuitBreaker breaker(2, std::chrono::milliseconds(0));
  EXPECT_TRUE(breaker.Allow());
  breaker.Failure();
  EXPECT_FALSE(breaker.open());
  breaker.Failure();
  EXPECT_TRUE(breaker.open());
  EXPECT_TRUE(breaker.Allow());  // zero cooldown: the probe goes through
  breaker.Success();
  EXPECT_FALSE(breaker.open());

  CircuitBreaker slow(1, std::chrono::minutes(1));
  slow.Failure();
  EXPECT_FALSE(slow.Allow());
}

TEST(RedisUrlTest, ParsesPasswordHostPortAndDatabase) {
  auto full = RedisUrl::Parse("redis://:pw@cache.internal:6380/4");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->host, "cache.internal");
  EXPECT_EQ(full->port, 6380);
  EXPECT_EQ(full->password, "pw");
  EXPECT_EQ(full->db, 4);
  auto plain = RedisUrl::Parse("redis://127.0.0.1");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->port, 6379);
  EXPECT_EQ(plain->db, 0);
  EXPECT_TRUE(plain->password.empty());
  auto v6 = RedisUrl::Parse("redis://user:p%40ss@[::1]:7000/");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 7000);
  EXPECT_EQ(v6->password, "p%40ss");
  for (const char* bad : {"http://x", "redis://", "redis://h:0", "redis://h:x/1", "redis://h/db"}) {
    auto parsed = RedisUrl::Parse(bad);
    EXPECT_FALSE(parsed) << bad;
    if (!parsed) {
      EXPECT_EQ(parsed.error().message.find("pw"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace imgorigin::cache
