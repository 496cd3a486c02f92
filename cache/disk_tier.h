// The disk tier: one file per entry under a directory, bounded in bytes, least recently used
// evicted first.
//
// Writes go to a temporary file that is renamed into place, so a reader never sees half an
// entry; a crash leaves at worst a stray temporary (removed on the next start) or a torn file
// that fails the entry checksum. On start the index is rebuilt from directory listings and
// stat() alone (size, and mtime as the last use, which Get() refreshes), so no file is read.
// The index is authoritative: one process per directory. All members are safe to call from
// several I/O threads at once; file I/O happens outside the index lock.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "cache/tier.h"
#include "common/status.h"

namespace imgorigin::cache {

class DiskTier : public Tier {
 public:
  struct Config {
    std::string dir;                       // created if missing
    uint64_t capacity_bytes = 1ull << 30;  // sum of entry file sizes kept
    common::Result<void> Validate() const;
  };

  // Creates the directory layout and rebuilds the index; evicts down to the bound if the
  // directory holds more than it (the bound may have shrunk since the last run).
  static common::Result<std::unique_ptr<DiskTier>> Open(Config config);

  // Only Open() can make the key, so every tier has its index rebuilt.
  class PassKey {
    friend class DiskTier;
    PassKey() = default;
  };
  DiskTier(PassKey, Config config);

  std::string_view name() const override { return "disk"; }
  common::Result<std::optional<std::string>> Get(const std::string& key) override;
  // Declines (false) an entry larger than the whole bound. ENOSPC and other write errors are
  // errors; the index is left unchanged by them.
  common::Result<bool> Put(const std::string& key, std::string_view entry) override;
  common::Result<void> Erase(const std::string& key) override;

  uint64_t size_bytes() const;
  size_t entries() const;

 private:
  std::string PathOf(const std::string& key) const;
  void Rebuild();
  // Drops LRU entries until the total fits; caller holds mu_.
  void EvictLocked();
  void Forget(const std::string& key);

  struct Slot {
    std::string key;
    uint64_t size = 0;
  };
  using Order = std::list<Slot>;  // front = most recently used

  const Config config_;
  mutable std::mutex mu_;
  Order order_;
  std::unordered_map<std::string, Order::iterator> index_;
  uint64_t bytes_ = 0;
};

// True for the variant keys the tier accepts as file names (lowercase hex, 64 digits).
bool IsDiskKey(std::string_view name);

}  // namespace imgorigin::cache
