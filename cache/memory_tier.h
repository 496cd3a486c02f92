// The in-process cache tier: a byte-bounded LRU split into shards, each with its own lock, so
// the event loops rarely contend.
//
// Entries are shared, immutable CachedImage values: a hit hands out a reference, never a copy,
// and the bytes stay alive for as long as a reply holds them even if the entry is evicted.
// Get/Put/Erase may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace imgorigin::cache {

struct CachedImage {
  common::SharedBytes body;
  std::string content_type;
  std::string etag;           // strong, quoted: "\"…\""
  int64_t last_modified = 0;  // source mtime, unix seconds; 0 = unknown
  int width = 0;
  int height = 0;

  // What the entry costs against the byte bound (body plus bookkeeping).
  size_t charge() const;
};

using CachedImagePtr = std::shared_ptr<const CachedImage>;

class MemoryTier {
 public:
  struct Config {
    size_t capacity_bytes = 256u << 20;  // 0 disables the tier
    size_t shards = 16;
    common::Result<void> Validate() const;
  };

  explicit MemoryTier(Config config);

  CachedImagePtr Get(std::string_view key);  // nullptr on miss; marks the entry recently used
  // Inserts or replaces; evicts least recently used entries of the shard to stay within its
  // share of the bound. An entry larger than a shard's share is not stored (and the key's older
  // value, if any, is dropped). A null value is ignored.
  void Put(const std::string& key, CachedImagePtr value);
  void Erase(std::string_view key);

  size_t size_bytes() const;  // sum of charges held: each image's charge() plus its key and slot
  size_t entries() const;

 private:
  struct Shard {
    using Order = std::list<std::pair<std::string, CachedImagePtr>>;
    mutable std::mutex mu;
    Order order;  // front = most recently used
    std::unordered_map<std::string_view, Order::iterator> index;  // views into order's keys
    size_t bytes = 0;
  };
  Shard& ShardFor(std::string_view key);

  size_t shard_capacity_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace imgorigin::cache
