// The source cache: originals kept in memory and on disk so that every variant of one original
// fetches it once, with concurrent fetches of the same original coalesced into one.
//
// Fetch() never blocks: a memory hit answers on the caller's thread (an event loop), anything
// else runs on the I/O pool (disk look-up, then the Source), and the answer arrives on that pool
// thread. Entries are per source URL and cachebuster (imgproxy's "cb:"): a new cachebuster
// fetches the original again, while variants that share one reuse its fetch. Only network
// sources (s3, http, https) are cached; local files are read every time
// (they are already on disk, and edits must show). Entries live at most `ttl`, and both tiers
// are bounded by size with least-recently-used eviction. Originals streamed to a file are not
// kept in memory; on disk they are hard-linked, never copied through memory.
//
// The memory tier is a common::ShardedLru, the disk tier a storage::DiskLru (plain files that
// libvips can open by path) with its own directory and budget. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cache/coalescer.h"
#include "common/lru_cache.h"
#include "common/status.h"
#include "common/thread_pool.h"
#include "sources/source.h"
#include "storage/disk_lru.h"

namespace imgorigin::sources {

class SourceCache {
 public:
  struct Config {
    size_t memory_bytes = 128u << 20;  // 0 disables the memory tier
    std::string disk_dir;              // "" disables the disk tier
    int64_t disk_bytes = 2ll << 30;
    std::chrono::seconds ttl{3600};  // an original is fetched again after this long

    common::Result<void> Validate() const;
  };

  struct Stats {
    uint64_t memory_hits = 0;
    uint64_t disk_hits = 0;
    uint64_t fetches = 0;    // calls to a Source
    uint64_t spilled = 0;    // fetched originals that were streamed to a temporary file
    uint64_t coalesced = 0;  // requests that waited for another request's fetch
    size_t memory_bytes = 0;
    int64_t disk_bytes = 0;
  };

  using Done = std::function<void(const common::Result<SourceImage>&)>;

  // Creates the disk directory if needed and indexes what it already holds (evicting past the
  // budget and TTL). `sources` and `io` must outlive the cache.
  // Originals larger than `file_bytes` are handed out as files rather than read into memory;
  // disk entries larger than `max_bytes` (limits.max_src_bytes, perhaps lowered since they were
  // stored) are dropped.
  static common::Result<std::unique_ptr<SourceCache>> Open(const Config& config,
                                                           const SourceRouter& sources,
                                                           common::ThreadPool& io,
                                                           int64_t file_bytes, int64_t max_bytes);
  ~SourceCache();

  // Calls `done` exactly once with the original behind `url`, as cached under `cachebuster` ("" =
  // none): at once on a memory hit, later on an I/O pool thread otherwise. kOverloaded when the
  // I/O pool queue is full.
  void Fetch(const std::string& url, std::string_view cachebuster, Done done);

  Stats stats() const;

 private:
  // An original in memory and when it was fetched (the TTL runs from there).
  struct MemoryEntry {
    SourceImage image;
    std::chrono::steady_clock::time_point stored;
  };

  SourceCache(const Config& config, const SourceRouter& sources, common::ThreadPool& io,
              int64_t file_bytes, int64_t max_bytes, std::unique_ptr<storage::DiskLru> disk);
  // `key` names the entry (EntryKey() of the URL and cachebuster): loads, memory and disk.
  void Load(const std::string& url, const std::string& key);  // on an I/O thread
  std::optional<SourceImage> MemoryGet(const std::string& key);
  void MemoryPut(const std::string& key, const SourceImage& image);
  std::optional<SourceImage> DiskGet(const std::string& key);
  void DiskPut(const std::string& key, const SourceImage& image);

  const Config config_;
  const SourceRouter& sources_;
  common::ThreadPool& io_;
  const int64_t file_bytes_;
  const int64_t max_bytes_;
  cache::Coalescer<common::Result<SourceImage>> loads_;

  common::ShardedLru<MemoryEntry> memory_;
  std::unique_ptr<storage::DiskLru> disk_;  // null: no disk tier

  std::atomic<uint64_t> memory_hits_{0};
  std::atomic<uint64_t> disk_hits_{0};
  std::atomic<uint64_t> fetches_{0};
  std::atomic<uint64_t> spilled_{0};
  std::atomic<uint64_t> coalesced_{0};
};

}  // namespace imgorigin::sources
