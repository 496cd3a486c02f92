// A byte-bounded LRU map from string keys to shared, immutable values, split into shards that
// each have their own lock, so event loops rarely contend.
//
// A hit hands out a reference, never a copy, and a value stays alive for as long as someone
// holds it even after it is evicted. Every entry is charged its key, its value's `charge(value)`
// and a fixed bookkeeping overhead against the bound. Get/Put/Erase may be called from any thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace imgorigin::common {

template <class V>
class ShardedLru {
 public:
  using Ptr = std::shared_ptr<const V>;
  using Charge = size_t (*)(const V&);

  // capacity_bytes 0 disables the cache (every Get misses, Put keeps nothing).
  // An unvalidated shard count of 0 reads as one shard.
  ShardedLru(size_t capacity_bytes, size_t shards, Charge charge) : charge_(charge) {
    shards_.resize(std::max<size_t>(1, shards));
    for (auto& shard : shards_) shard = std::make_unique<Shard>();
    shard_capacity_ = capacity_bytes / shards_.size();
  }

  Ptr Get(std::string_view key) {  // nullptr on miss; marks the entry recently used
    if (shard_capacity_ == 0) return nullptr;
    Shard& shard = ShardFor(key);
    std::lock_guard lock(shard.mu);
    auto it = shard.index.find(key);
    if (it == shard.index.end()) return nullptr;
    shard.order.splice(shard.order.begin(), shard.order, it->second);
    return it->second->second;
  }

  // Inserts or replaces; evicts least recently used entries of the shard to stay within its
  // share of the bound. An entry larger than a shard's share is not stored (and the key's older
  // value, if any, is dropped). A null value is ignored.
  void Put(const std::string& key, Ptr value) {
    if (shard_capacity_ == 0 || !value) return;
    const size_t charge = EntryCharge(key, *value);
    Shard& shard = ShardFor(key);
    // Values leaving the cache are released after the lock is dropped: freeing a large value is
    // the last reference's job and should not stall other callers of this shard.
    std::vector<Ptr> released;
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
  }  // `released` is declared before the lock, so it is destroyed after the unlock

  void Erase(std::string_view key) {
    if (shard_capacity_ == 0) return;
    Shard& shard = ShardFor(key);
    Ptr released;
    std::lock_guard lock(shard.mu);
    auto it = shard.index.find(key);
    if (it == shard.index.end()) return;
    auto node = it->second;
    shard.bytes -= EntryCharge(node->first, *node->second);
    shard.index.erase(it);
    released = std::move(node->second);
    shard.order.erase(node);
  }

  size_t size_bytes() const {  // sum of the charges held
    size_t total = 0;
    for (const auto& shard : shards_) {
      std::lock_guard lock(shard->mu);
      total += shard->bytes;
    }
    return total;
  }

  size_t entries() const {
    size_t total = 0;
    for (const auto& shard : shards_) {
      std::lock_guard lock(shard->mu);
      total += shard->order.size();
    }
    return total;
  }

 private:
  // Rough cost of one entry's bookkeeping beyond the key and value: a list node, a hash node and
  // the shared_ptr control block. Counted so that many tiny entries cannot exceed the bound.
  static constexpr size_t kEntryOverhead = 128;

  struct Shard {
    using Order = std::list<std::pair<std::string, Ptr>>;
    mutable std::mutex mu;
    Order order;  // front = most recently used
    std::unordered_map<std::string_view, typename Order::iterator> index;  // views into order
    size_t bytes = 0;
  };

  size_t EntryCharge(std::string_view key, const V& value) const {
    return key.size() + kEntryOverhead + charge_(value);
  }

  Shard& ShardFor(std::string_view key) {
    // Fibonacci hashing moves every bit of the hash into the high half, and the shard is taken
    // from there, so the choice of shard does not correlate with the bucket each shard's own
    // map derives from the same hash value.
    const uint64_t h = std::hash<std::string_view>{}(key);
    return *shards_[(h * 0x9E3779B97F4A7C15ull >> 32) % shards_.size()];
  }

  Charge charge_;
  size_t shard_capacity_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace imgorigin::common
