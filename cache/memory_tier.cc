#include "cache/memory_tier.h"

namespace imgorigin::cache {

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

MemoryTier::MemoryTier(Config config)
    : lru_(config.capacity_bytes, config.shards,
           [](const CachedImage& image) { return image.charge(); }) {}

}  // namespace imgorigin::cache
