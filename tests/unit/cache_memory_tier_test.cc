#include <gtest/gtest.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cache/memory_tier.h"

namespace imgorigin::cache {
namespace {

CachedImagePtr Image(size_t body_size, char fill = 'x') {
  auto image = std::make_shared<CachedImage>();
  image->body = common::MakeShared(std::string(body_size, fill));
  image->content_type = "image/webp";
  image->etag = "\"abc\"";
  image->width = 10;
  image->height = 20;
  return image;
}

MemoryTier::Config OneShard(size_t capacity) {
  MemoryTier::Config config;
  config.capacity_bytes = capacity;
  config.shards = 1;
  return config;
}

TEST(CachedImageTest, ChargeCoversBodyAndBookkeeping) {
  const auto small = Image(10);
  const auto large = Image(1000);
  EXPECT_GE(small->charge(), 10u + small->content_type.size() + small->etag.size());
  EXPECT_EQ(large->charge() - small->charge(), 990u);
  EXPECT_GT(CachedImage{}.charge(), 0u);  // no body still costs something
}

TEST(MemoryTierConfigTest, Validate) {
  EXPECT_TRUE(MemoryTier::Config{}.Validate());
  EXPECT_TRUE(OneShard(0).Validate());
  MemoryTier::Config odd;
  odd.shards = 3;  // a power of two is not required
  EXPECT_TRUE(odd.Validate());
  MemoryTier::Config none;
  none.shards = 0;
  EXPECT_FALSE(none.Validate());
  MemoryTier::Config tiny;
  tiny.capacity_bytes = 4;
  tiny.shards = 8;
  EXPECT_FALSE(tiny.Validate());
}

TEST(MemoryTierTest, HitAndMiss) {
  MemoryTier tier(MemoryTier::Config{});
  EXPECT_EQ(tier.Get("a"), nullptr);
  const auto image = Image(100);
  tier.Put("a", image);
  EXPECT_EQ(tier.Get("a"), image);  // the same object, not a copy
  EXPECT_EQ(tier.Get("b"), nullptr);
  EXPECT_EQ(tier.entries(), 1u);
  EXPECT_GE(tier.size_bytes(), image->charge());
}

TEST(MemoryTierTest, EraseRemovesEntryAndBytes) {
  MemoryTier tier(MemoryTier::Config{});
  tier.Put("a", Image(100));
  tier.Put("b", Image(100));
  const size_t both = tier.size_bytes();
  tier.Erase("a");
  tier.Erase("missing");
  EXPECT_EQ(tier.Get("a"), nullptr);
  EXPECT_NE(tier.Get("b"), nullptr);
  EXPECT_EQ(tier.entries(), 1u);
  EXPECT_EQ(tier.size_bytes(), both / 2);
  tier.Erase("b");
  EXPECT_EQ(tier.size_bytes(), 0u);
  EXPECT_EQ(tier.entries(), 0u);
}

TEST(MemoryTierTest, ZeroCapacityDisablesTheTier) {
  MemoryTier tier(OneShard(0));
  tier.Put("a", Image(1));
  EXPECT_EQ(tier.Get("a"), nullptr);
  EXPECT_EQ(tier.entries(), 0u);
  EXPECT_EQ(tier.size_bytes(), 0u);
}

TEST(MemoryTierTest, NullValueIsNotStored) {
  MemoryTier tier(MemoryTier::Config{});
  tier.Put("a", nullptr);
  EXPECT_EQ(tier.entries(), 0u);
}

TEST(MemoryTierTest, EvictsLeastRecentlyUsedAndReadsRefresh) {
  // Measure one entry's cost, then size the shard for exactly three.
  size_t per_entry;
  {
    MemoryTier probe(OneShard(1 << 20));
    probe.Put("k0", Image(1000));
    per_entry = probe.size_bytes();
  }
  MemoryTier tier(OneShard(3 * per_entry));
  tier.Put("k0", Image(1000));
  tier.Put("k1", Image(1000));
  tier.Put("k2", Image(1000));
  ASSERT_EQ(tier.entries(), 3u);

  ASSERT_NE(tier.Get("k0"), nullptr);  // k0 is now the most recently used; k1 the least
  tier.Put("k3", Image(1000));
  EXPECT_NE(tier.Get("k0"), nullptr);
  EXPECT_EQ(tier.Get("k1"), nullptr);
  EXPECT_NE(tier.Get("k2"), nullptr);
  EXPECT_NE(tier.Get("k3"), nullptr);
  EXPECT_EQ(tier.size_bytes(), 3 * per_entry);

  // Order is now k3 (most recent), k2, k0: the next put evicts k0.
  tier.Put("k4", Image(1000));
  EXPECT_EQ(tier.Get("k0"), nullptr);
  EXPECT_EQ(tier.entries(), 3u);
}

TEST(MemoryTierTest, ReplacingAKeyUpdatesBytesAndValue) {
  MemoryTier tier(OneShard(1 << 20));
  tier.Put("a", Image(100));
  const size_t small = tier.size_bytes();
  const auto bigger = Image(5000, 'y');
  tier.Put("a", bigger);
  EXPECT_EQ(tier.entries(), 1u);
  EXPECT_EQ(tier.size_bytes(), small + 4900);
  EXPECT_EQ(tier.Get("a"), bigger);
  tier.Put("a", Image(100));
  EXPECT_EQ(tier.size_bytes(), small);
}

TEST(MemoryTierTest, ReplacingKeepsEntryFindableAfterOtherKeysChurn) {
  // The index holds views into the list's keys; replacement must keep them valid.
  MemoryTier tier(OneShard(1 << 20));
  for (int round = 0; round < 50; ++round) {
    for (int k = 0; k < 20; ++k)
      tier.Put("key-with-a-long-name-beyond-sso-" + std::to_string(k), Image(round + k));
  }
  for (int k = 0; k < 20; ++k) {
    const auto got = tier.Get("key-with-a-long-name-beyond-sso-" + std::to_string(k));
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(got->body->size(), static_cast<size_t>(49 + k));
  }
}

TEST(MemoryTierTest, OversizeEntryIsNotStored) {
  MemoryTier tier(OneShard(10000));
  tier.Put("small", Image(100));
  tier.Put("huge", Image(20000));
  EXPECT_EQ(tier.Get("huge"), nullptr);
  EXPECT_NE(tier.Get("small"), nullptr);  // and nothing was evicted to make room for it
  EXPECT_LE(tier.size_bytes(), 10000u);
}

TEST(MemoryTierTest, OversizeReplacementDropsTheStaleValue) {
  MemoryTier tier(OneShard(10000));
  tier.Put("a", Image(100));
  tier.Put("a", Image(20000));
  EXPECT_EQ(tier.Get("a"), nullptr);
  EXPECT_EQ(tier.size_bytes(), 0u);
  EXPECT_EQ(tier.entries(), 0u);
}

TEST(MemoryTierTest, EntryLargerThanAShardShareIsNotStored) {
  MemoryTier::Config config;
  config.capacity_bytes = 40000;
  config.shards = 4;  // 10000 per shard
  MemoryTier tier(config);
  tier.Put("a", Image(15000));
  EXPECT_EQ(tier.Get("a"), nullptr);
}

TEST(MemoryTierTest, ReferenceOutlivesEviction) {
  MemoryTier tier(OneShard(5000));
  CachedImagePtr held;
  tier.Put("a", Image(3000, 'a'));
  held = tier.Get("a");
  ASSERT_NE(held, nullptr);
  tier.Put("b", Image(3000, 'b'));  // evicts "a"
  tier.Erase("b");
  ASSERT_EQ(tier.Get("a"), nullptr);
  EXPECT_EQ(*held->body, std::string(3000, 'a'));
  EXPECT_EQ(held->content_type, "image/webp");
}

TEST(MemoryTierTest, ByteBoundIsNeverExceeded) {
  MemoryTier::Config config;
  config.capacity_bytes = 64 * 1024;
  config.shards = 4;
  MemoryTier tier(config);
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> key_dist(0, 199);
  std::uniform_int_distribution<size_t> size_dist(0, 20000);
  std::uniform_int_distribution<int> op_dist(0, 9);
  for (int i = 0; i < 5000; ++i) {
    const std::string key = "k" + std::to_string(key_dist(rng));
    const int op = op_dist(rng);
    if (op < 6) {
      tier.Put(key, Image(size_dist(rng)));
    } else if (op < 9) {
      tier.Get(key);
    } else {
      tier.Erase(key);
    }
    ASSERT_LE(tier.size_bytes(), config.capacity_bytes) << "after op " << i;
  }
  EXPECT_GT(tier.entries(), 0u);
}

TEST(MemoryTierTest, ConcurrentGetPutEraseFromFourThreads) {
  MemoryTier::Config config;
  config.capacity_bytes = 256 * 1024;
  config.shards = 4;
  MemoryTier tier(config);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&tier, t] {
      std::mt19937 rng(t);
      std::uniform_int_distribution<int> key_dist(0, 63);
      std::uniform_int_distribution<size_t> size_dist(0, 8000);
      for (int i = 0; i < 20000; ++i) {
        const std::string key = "key-" + std::to_string(key_dist(rng));
        switch (i % 4) {
          case 0:
          case 1:
            tier.Put(key, Image(size_dist(rng), static_cast<char>('a' + t)));
            break;
          case 2:
            if (const auto got = tier.Get(key)) {
              // Whoever wrote it, the value is whole: one fill character throughout.
              const std::string& body = *got->body;
              if (!body.empty()) {
                ASSERT_EQ(body.find_first_not_of(body.front()), std::string::npos);
              }
            }
            break;
          default:
            if (i % 64 == 3) tier.Erase(key);
            break;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(tier.size_bytes(), config.capacity_bytes);
}

}  // namespace
}  // namespace imgorigin::cache
