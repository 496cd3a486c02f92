// A directory of files bounded in bytes, least recently used evicted first: the one disk LRU
// under the result cache's disk tier and the source cache's originals.
//
// Entries are named by a 64-digit lowercase hex key, in 256 fan-out directories, each with an
// optional short label that lives in the file name (so the index is rebuilt on start from
// directory listings and stat() alone, without reading a file). Writes go to a temporary file
// that is renamed into place, so a reader never sees half an entry; a crash leaves at worst a
// stray temporary, removed on the next start. The file's mtime records its last use, so the LRU
// order survives a restart. The index is authoritative: one process per directory.
// Every member is safe to call from several I/O threads at once; file I/O happens outside the
// index lock except the rename that publishes an entry. Calls block: never on an event loop.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/fd.h"
#include "common/status.h"

namespace imgorigin::storage {

// True for the names DiskLru accepts as keys (lowercase hex, 64 digits, e.g. a SHA-256).
bool IsDiskKey(std::string_view name);

class DiskLru {
 public:
  struct Config {
    std::string dir;                       // created if missing
    uint64_t capacity_bytes = 1ull << 30;  // sum of entry file sizes kept
    common::Result<void> Validate() const;
  };

  struct Hit {
    common::UniqueFd fd;  // open for reading, at offset 0
    uint64_t size = 0;
    std::string label;
    std::string path;  // may be unlinked by an eviction at any time; `fd` stays valid
  };

  // Creates the directory and rebuilds the index; evicts down to the bound if the directory holds
  // more (the bound may have shrunk since the last run).
  static common::Result<std::unique_ptr<DiskLru>> Open(Config config);

  // nullopt on a miss; marks the entry used.
  common::Result<std::optional<Hit>> Get(const std::string& key);
  // Stores `bytes` under `key`, replacing any entry with that key. `label` is at most 64
  // characters of [0-9a-z_-]. false (nothing stored) for an entry larger than the whole bound.
  // ENOSPC and other write errors are errors and leave the index unchanged.
  common::Result<bool> Put(const std::string& key, std::string_view label, std::string_view bytes);
  // Put() of the file at `path`, hard-linked when it is on the same filesystem, else copied
  // without passing through memory.
  common::Result<bool> PutFile(const std::string& key, std::string_view label,
                               const std::string& path);
  void Erase(const std::string& key);

  // A fresh path in the directory's private temporary folder (emptied on every Open()), for a
  // caller's own link to an entry that must outlive its eviction.
  std::string TempPath();

  uint64_t size_bytes() const;
  size_t entries() const;

  // Only Open() can make the key, so every DiskLru has its index rebuilt.
  class PassKey {
    friend class DiskLru;
    PassKey() = default;
  };
  DiskLru(PassKey, Config config);

 private:
  struct Slot {
    std::string key;
    std::string label;
    uint64_t size = 0;
  };
  using Order = std::list<Slot>;  // front = most recently used

  std::string PathOf(const std::string& key, std::string_view label) const;
  void Rebuild();
  // Renames the temporary `tmp` into place as the entry and indexes it.
  common::Result<bool> Publish(const std::string& key, std::string_view label,
                               const std::string& tmp, uint64_t size);
  void DropLocked(Order::iterator slot);
  void EvictLocked();

  const Config config_;
  mutable std::mutex mu_;
  Order order_;
  std::unordered_map<std::string, Order::iterator> index_;
  uint64_t bytes_ = 0;
  uint64_t sequence_ = 0;  // temporary names; under mu_
};

}  // namespace imgorigin::storage
