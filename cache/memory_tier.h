// The in-process cache tier: a byte-bounded LRU split into shards, each with its own lock, so
// the event loops rarely contend (common::ShardedLru).
//
// Entries are shared, immutable CachedImage values: a hit hands out a reference, never a copy,
// and the bytes stay alive for as long as a reply holds them even if the entry is evicted.
// Get/Put/Erase may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/bytes.h"
#include "common/lru_cache.h"
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

  CachedImagePtr Get(std::string_view key) { return lru_.Get(key); }  // nullptr on miss
  // Inserts or replaces, evicting the least recently used; see common::ShardedLru::Put.
  void Put(const std::string& key, CachedImagePtr value) { lru_.Put(key, std::move(value)); }
  void Erase(std::string_view key) { lru_.Erase(key); }

  size_t size_bytes() const { return lru_.size_bytes(); }  // charges held, bookkeeping included
  size_t entries() const { return lru_.entries(); }

 private:
  common::ShardedLru<CachedImage> lru_;
};

}  // namespace imgorigin::cache
