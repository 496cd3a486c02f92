// The S3 result tier: rendered variants kept as objects in a bucket, the last and slowest tier
// (below disk). Every node of a fleet, and a node that starts with empty memory and disk, finds
// what any node rendered before, and the results outlive Redis and the nodes' disks.
//
// Objects are cache entries (cache/entry_codec.h: versioned header, checksum, body) at
// `<prefix><first two hex digits of the key>/<key>` in one bucket. The bucket has no TTL of its
// own: TieredCache refuses (and deletes) entries older than cache.ttl_s, and a lifecycle rule on
// the prefix removes what nobody reads any more (purged variants among them). Requests go through
// S3Client (signing, credentials, addressing shared with the s3:// source) without retries: a
// failure is a miss for TieredCache's circuit breaker to count, not something to wait for.
// Blocking; called only from TieredCache's I/O threads. Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cache/tier.h"
#include "common/status.h"
#include "storage/s3_client.h"

namespace imgorigin::cache {

class S3ResultTier final : public cache::Tier {
 public:
  struct Config {
    std::string bucket;                 // "" = no S3 result tier
    std::string prefix = "imgorigin/";  // key prefix inside the bucket; may be ""
    // "" = the s3:// source's region and endpoint (s3.region, then AWS_REGION …; s3.endpoint,
    // then AWS_ENDPOINT_URL_S3 …), so the result bucket may live in another region or store.
    std::string region;
    std::string endpoint;
    std::chrono::milliseconds timeout{2000};  // connect, and each whole request

    common::Result<void> Validate() const;
  };

  // `client` carries region, endpoint and addressing style, already merged with the source's.
  static common::Result<std::unique_ptr<S3ResultTier>> Create(
      const Config& config, const storage::S3Client::Config& client, storage::EnvLookup env);

  std::string_view name() const override { return "s3"; }
  // 404 is a miss. Anything else that is not 200 (403 for a bucket policy without
  // s3:ListBucket, 5xx, SlowDown) is an error.
  common::Result<std::optional<std::string>> Get(const std::string& key) override;
  // Never declines: a single PUT takes up to 5 GiB.
  common::Result<bool> Put(const std::string& key, std::string_view entry) override;
  common::Result<void> Erase(const std::string& key) override;

  // The object key of a variant key: "<prefix><first two hex>/<key>".
  std::string ObjectKey(const std::string& key) const;
  const storage::S3Client& client() const { return *s3_; }

 private:
  S3ResultTier(const Config& config, std::unique_ptr<storage::S3Client> s3);
  storage::HttpRequest Request(const char* method, const std::string& key) const;
  common::Result<storage::HttpResponse> Perform(const storage::HttpRequest& request) const;

  const Config config_;
  const std::unique_ptr<storage::S3Client> s3_;
};

}  // namespace imgorigin::cache
