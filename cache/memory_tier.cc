#include "cache/memory_tier.h"

#include <algorithm>
#include <functional>
#include <utility>

namespace imgorigin::cache {
namespace {

// Rough cost of one entry's bookkeeping beyond the strings: a list node, a hash node and the
// shared_ptr control block. Counted so that many tiny entries cannot exceed the bound unnoticed.
constexpr size_t kEntryOverhead = 128;

size_t EntryCharge(std::string_view key, const CachedImage& value) {
  return key.size() + kEntryOverhead + value.charge();
}

}  // namespace

size_t CachedImage::charge() const {
  return (body ? body->size() : 0) + content_type.size() + etag.size() + sizeof(CachedImage);
}

common::Result<void> MemoryTier::Config::Validate() const {
  if (shards < 1) {
    return common::Fail(common::ErrorCode::kInternal, "memory cache needs at least one shard");
  }
  if (capacity_bytes > 0 && capacity_bytes / shards == 0) {
    return common::Fail(common::ErrorCode::kInternal,
                        "memory cache capacity is smaller than its shard count");
  }
  return {};
}

MemoryTier::MemoryTier(Config config) {
  // An unvalidated zero would otherwise divide by zero below; one shard is the safe reading.
  const size_t shards = std::max<size_t>(1, config.shards);
  shard_capacity_ = config.capacity_bytes / shards;
  shards_.reserve(shards);
  for (size_t i = 0; i < shards; ++i) shards_.push_back(std::make_unique<Shard>());
}

MemoryTier::Shard& MemoryTier::ShardFor(std::string_view key) {
  // Fibonacci hashing moves every bit of the hash into the high half, and the shard is taken
  // from there, so the choice of shard does not correlate with the bucket each shard's own map
  // derives from the same hash value.
  const uint64_t h = std::hash<std::string_view>{}(key);
  return *shards_[(h * 0x9E3779B97F4A7C15ull >> 32) % shards_.size()];
}

CachedImagePtr MemoryTier::Get(std::string_view key) {
  if (shard_capacity_ == 0) return nullptr;
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.index.find(key);
  if (it == shard.index.end()) return nullptr;
  shard.order.splice(shard.order.begin(), shard.order, it->second);
  return it->second->second;
}

void MemoryTier::Put(const std::string& key, CachedImagePtr value) {
  if (shard_capacity_ == 0 || !value) return;
  const size_t charge = EntryCharge(key, *value);
  Shard& shard = ShardFor(key);

  // Values leaving the cache are released after the lock is dropped: freeing a large body is
  // the last reference's job and should not stall other callers of this shard.
  std::vector<CachedImagePtr> released;
  {
    std::lock_guard lock(shard.mu);
    auto it = shard.index.find(key);
    if (it != shard.index.end()) {
      // Replace in place: the list node, and so the key the index views, stays where it is.
      auto node = it->second;
      shard.bytes -= EntryCharge(node->first, *node->second);
      released.push_back(std::exchange(node->second, nullptr));
      if (charge > shard_capacity_) {
        // A value too large to keep must not leave the older one answering for the key.
        shard.index.erase(it);
        shard.order.erase(node);
        return;
      }
      node->second = std::move(value);
      shard.order.splice(shard.order.begin(), shard.order, node);
    } else {
      if (charge > shard_capacity_) return;
      shard.order.emplace_front(key, std::move(value));
      shard.index.emplace(shard.order.front().first, shard.order.begin());
    }
    shard.bytes += charge;

    while (shard.bytes > shard_capacity_) {
      auto& victim = shard.order.back();
      shard.bytes -= EntryCharge(victim.first, *victim.second);
      // The index entry goes first: its key is a view into the node about to be destroyed.
      shard.index.erase(victim.first);
      released.push_back(std::move(victim.second));
      shard.order.pop_back();
    }
  }
}

void MemoryTier::Erase(std::string_view key) {
  if (shard_capacity_ == 0) return;
  Shard& shard = ShardFor(key);
  CachedImagePtr released;
  {
    std::lock_guard lock(shard.mu);
    auto it = shard.index.find(key);
    if (it == shard.index.end()) return;
    auto node = it->second;
    shard.bytes -= EntryCharge(node->first, *node->second);
    shard.index.erase(it);
    released = std::move(node->second);
    shard.order.erase(node);
  }
}

size_t MemoryTier::size_bytes() const {
  size_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mu);
    total += shard->bytes;
  }
  return total;
}

size_t MemoryTier::entries() const {
  size_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mu);
    total += shard->order.size();
  }
  return total;
}

}  // namespace imgorigin::cache
