#include "origin/cache_tiers.h"

#include <spdlog/spdlog.h>

#include "cache/disk_tier.h"
#include "cache/memcached_tier.h"
#include "cache/redis_tier.h"
#include "cache/s3_result_tier.h"

namespace imgorigin::origin {

common::Result<std::unique_ptr<cache::TieredCache>> OpenTieredCache(const Config& config,
                                                                    cache::MemoryTier& memory,
                                                                    const EnvLookup& env) {
  using common::ErrorCode;
  using common::Fail;
  std::unique_ptr<cache::SharedTier> shared;
  if (!config.redis_url.empty()) {
    auto redis = cache::RedisTier::Create({.url = config.redis_url,
                                           .connect_timeout = config.shared_timeout,
                                           .command_timeout = config.shared_timeout,
                                           .ttl = config.tiers.ttl,
                                           .prefix = config.cache_key_prefix});
    if (!redis)
      return Fail(ErrorCode::kInvalidArgument, "cache.redis_url: " + redis.error().message);
    auto url = cache::RedisUrl::Parse(config.redis_url);  // the password stays out of the log
    spdlog::info("shared cache: redis {}:{} db {}", url->host, url->port, url->db);
    shared = *std::move(redis);
  } else if (!config.memcached_servers.empty()) {
    auto memcached = cache::MemcachedTier::Create(
        {.servers = config.memcached_servers,
         .timeout = config.shared_timeout,
         .ttl = config.tiers.ttl,
         .max_item_bytes = static_cast<size_t>(config.memcached_max_item),
         .prefix = config.cache_key_prefix});
    if (!memcached) {
      return Fail(ErrorCode::kInvalidArgument,
                  "cache.memcached_servers: " + memcached.error().message);
    }
    spdlog::info("shared cache: memcached {}", config.memcached_servers);
    shared = *std::move(memcached);
  }
  std::vector<std::unique_ptr<cache::Tier>> below;
  if (!config.disk_cache_dir.empty()) {
    auto disk =
        cache::DiskTier::Open({.dir = config.disk_cache_dir,
                               .capacity_bytes = static_cast<uint64_t>(config.disk_cache_size)});
    if (!disk) return Fail(ErrorCode::kInvalidArgument, "cache.disk_dir: " + disk.error().message);
    spdlog::info("disk cache: {} ({} entries, {} of {} MiB used)", config.disk_cache_dir,
                 (*disk)->entries(), (*disk)->size_bytes() >> 20, config.disk_cache_size >> 20);
    below.push_back(*std::move(disk));
  }
  if (const auto& results = config.s3_results; !results.bucket.empty()) {
    // Last: the slowest tier. A hit there is backfilled into disk, the shared tier and memory
    // like any other; a render is written to it write-behind like to the others.
    auto s3 = cache::S3ResultTier::Create(
        results,
        {.region = results.region.empty() ? config.s3.region : results.region,
         .endpoint = results.endpoint.empty() ? config.s3.endpoint : results.endpoint,
         .path_style = config.s3.path_style},
        env);
    if (!s3) return Fail(ErrorCode::kInvalidArgument, "cache.s3_result: " + s3.error().message);
    spdlog::info("S3 result cache: s3://{}/{} (region {}, endpoint {})", results.bucket,
                 results.prefix, (*s3)->client().region(), (*s3)->client().endpoint());
    below.push_back(*std::move(s3));
  }
  return std::make_unique<cache::TieredCache>(config.tiers, memory, std::move(shared),
                                              std::move(below));
}

}  // namespace imgorigin::origin
