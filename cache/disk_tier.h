// The disk tier: one checksummed entry (entry_codec) per file in a storage::DiskLru, bounded in
// bytes, least recently used evicted first, surviving restarts. All members are safe to call
// from several I/O threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "cache/tier.h"
#include "common/status.h"
#include "storage/disk_lru.h"

namespace imgorigin::cache {

class DiskTier : public Tier {
 public:
  using Config = storage::DiskLru::Config;

  static common::Result<std::unique_ptr<DiskTier>> Open(Config config);

  std::string_view name() const override { return "disk"; }
  common::Result<std::optional<std::string>> Get(const std::string& key) override;
  // Declines (false) an entry larger than the whole bound. ENOSPC and other write errors are
  // errors; the index is left unchanged by them.
  common::Result<bool> Put(const std::string& key, std::string_view entry) override;
  common::Result<void> Erase(const std::string& key) override;

  uint64_t size_bytes() const { return lru_->size_bytes(); }
  size_t entries() const { return lru_->entries(); }

 private:
  explicit DiskTier(std::unique_ptr<storage::DiskLru> lru) : lru_(std::move(lru)) {}

  std::unique_ptr<storage::DiskLru> lru_;
};

}  // namespace imgorigin::cache
