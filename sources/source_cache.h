// The source cache: originals kept in memory and on disk so that every variant of one original
// fetches it once, with concurrent fetches of the same original coalesced into one.
//
// Fetch() never blocks: a memory hit answers on the caller's thread (an event loop), anything
// else runs on the I/O pool (disk look-up, then the Source), and the answer arrives on that pool
// thread. Only network sources (s3, http, https) are cached; local files are read every time
// (they are already on disk, and edits must show). Entries live at most `ttl`, and both tiers
// are bounded by size with least-recently-used eviction. Originals streamed to a file are not
// kept in memory; on disk they are hard-linked, never copied through memory.
//
// The disk tier is private to this class for now; cache/ is gaining a general disk tier, and
// once it can store entries as plain files that libvips can open by path, this tier should
// become an instance of it with its own directory and budget. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "cache/coalescer.h"
#include "common/status.h"
#include "common/thread_pool.h"
#include "sources/source.h"

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

  // Calls `done` exactly once with the original behind `url`: at once on a memory hit, later on
  // an I/O pool thread otherwise. kOverloaded when the I/O pool queue is full.
  void Fetch(const std::string& url, Done done);

  Stats stats() const;

 private:
  struct MemoryEntry {
    std::string url;
    SourceImage image;
    std::chrono::steady_clock::time_point stored;
  };
  struct DiskEntry {
    std::string name;  // file name inside disk_dir
    int64_t size = 0;
    int64_t stored = 0;  // unix seconds
    int64_t last_modified = 0;
  };
  using MemoryList = std::list<MemoryEntry>;
  using DiskList = std::list<std::pair<std::string, DiskEntry>>;  // hash → entry, MRU first

  SourceCache(const Config& config, const SourceRouter& sources, common::ThreadPool& io,
              int64_t file_bytes, int64_t max_bytes);
  common::Result<void> IndexDisk();
  void Load(const std::string& url);  // on an I/O thread
  std::optional<SourceImage> MemoryGet(const std::string& url);
  void MemoryPut(const std::string& url, const SourceImage& image);
  std::optional<SourceImage> DiskGet(const std::string& url);
  void DiskPut(const std::string& url, const SourceImage& image);
  void DiskEvict();  // with disk_mu_ held

  const Config config_;
  const SourceRouter& sources_;
  common::ThreadPool& io_;
  const int64_t file_bytes_;
  const int64_t max_bytes_;
  cache::Coalescer<common::Result<SourceImage>> loads_;

  mutable std::mutex memory_mu_;
  MemoryList memory_;  // MRU first
  std::unordered_map<std::string, MemoryList::iterator> memory_index_;
  size_t memory_size_ = 0;

  mutable std::mutex disk_mu_;
  DiskList disk_;
  std::unordered_map<std::string, DiskList::iterator> disk_index_;
  int64_t disk_size_ = 0;
  std::atomic<uint64_t> temp_counter_{0};

  std::atomic<uint64_t> memory_hits_{0};
  std::atomic<uint64_t> disk_hits_{0};
  std::atomic<uint64_t> fetches_{0};
  std::atomic<uint64_t> coalesced_{0};
};

}  // namespace imgorigin::sources
