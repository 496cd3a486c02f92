#include "sources/source_cache.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>

#include "common/fd.h"
#include "storage/digest.h"

namespace imgorigin::sources {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;
namespace fs = std::filesystem;

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool Cacheable(std::string_view url) {
  return url.starts_with("s3://") || url.starts_with("http://") || url.starts_with("https://");
}

// The entry of `url` under `cachebuster`. Without one it is the URL itself, as before
// cachebusters counted, so existing disk entries stay valid. With one, the key starts with the
// cachebuster's length: source URLs start with a letter (their scheme), so it can never equal a
// bare URL, and the length makes the split between cachebuster and URL unambiguous.
std::string EntryKey(const std::string& url, std::string_view cachebuster) {
  if (cachebuster.empty()) return url;
  return std::to_string(cachebuster.size()) + ":" + std::string(cachebuster) + ":" + url;
}

// Disk entry labels: "<stored unix s>-<last-modified unix s>".
std::string Label(int64_t stored, int64_t last_modified) {
  return std::to_string(stored) + "-" + std::to_string(last_modified);
}

std::optional<std::pair<int64_t, int64_t>> ParseLabel(std::string_view label) {
  size_t dash = label.find('-');
  int64_t stored = 0;
  int64_t modified = 0;
  if (dash == std::string_view::npos ||
      std::from_chars(label.data(), label.data() + dash, stored).ec != std::errc() ||
      std::from_chars(label.data() + dash + 1, label.data() + label.size(), modified).ec !=
          std::errc()) {
    return std::nullopt;
  }
  return std::pair{stored, modified};
}

}  // namespace

Result<void> SourceCache::Config::Validate() const {
  if (disk_bytes < 0)
    return Fail(ErrorCode::kInvalidArgument, "source cache disk size must be >= 0");
  if (ttl.count() < 0) return Fail(ErrorCode::kInvalidArgument, "source cache ttl must be >= 0");
  return {};
}

SourceCache::SourceCache(const Config& config, const SourceRouter& sources, common::ThreadPool& io,
                         int64_t file_bytes, int64_t max_bytes,
                         std::unique_ptr<storage::DiskLru> disk)
    : config_(config),
      sources_(sources),
      io_(io),
      file_bytes_(file_bytes),
      max_bytes_(max_bytes),
      // Eight shards: an original larger than a shard's share, an eighth of the tier, is not kept,
      // so a few big ones cannot flush it.
      memory_(config.memory_bytes, 8,
              [](const MemoryEntry& entry) { return entry.image.bytes->size(); }),
      disk_(std::move(disk)) {}

SourceCache::~SourceCache() = default;

Result<std::unique_ptr<SourceCache>> SourceCache::Open(const Config& config,
                                                       const SourceRouter& sources,
                                                       common::ThreadPool& io, int64_t file_bytes,
                                                       int64_t max_bytes) {
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  std::unique_ptr<storage::DiskLru> disk;
  if (!config.disk_dir.empty()) {
    // The layout before storage::DiskLru, garbage now.
    std::error_code ec;
    fs::remove_all(fs::path(config.disk_dir) / "objects", ec);
    auto opened = storage::DiskLru::Open(
        {.dir = config.disk_dir, .capacity_bytes = static_cast<uint64_t>(config.disk_bytes)});
    if (!opened) {
      return Fail(ErrorCode::kInternal,
                  "source cache directory \"" + config.disk_dir + "\" cannot be created");
    }
    disk = *std::move(opened);
    spdlog::info("source cache: {} original(s), {} MiB on disk in {}", disk->entries(),
                 disk->size_bytes() >> 20, config.disk_dir);
  }
  return std::unique_ptr<SourceCache>(
      new SourceCache(config, sources, io, file_bytes, max_bytes, std::move(disk)));
}

void SourceCache::Fetch(const std::string& url, std::string_view cachebuster, Done done) {
  std::string key = EntryKey(url, cachebuster);
  if (Cacheable(url)) {
    if (auto hit = MemoryGet(key)) {
      memory_hits_.fetch_add(1, std::memory_order_relaxed);
      done(*hit);
      return;
    }
  }
  if (!loads_.Join(key, std::move(done))) {
    coalesced_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!io_.TrySubmit([this, url, key] { Load(url, key); })) {
    loads_.Complete(key, Fail(ErrorCode::kOverloaded, "server is busy, retry shortly"));
  }
}

void SourceCache::Load(const std::string& url, const std::string& key) {
  const bool cacheable = Cacheable(url);
  if (cacheable && disk_) {
    if (auto hit = DiskGet(key)) {
      disk_hits_.fetch_add(1, std::memory_order_relaxed);
      MemoryPut(key, *hit);
      loads_.Complete(key, *hit);
      return;
    }
  }
  fetches_.fetch_add(1, std::memory_order_relaxed);
  Result<SourceImage> result = sources_.Fetch(url);
  if (result && result->file) spilled_.fetch_add(1, std::memory_order_relaxed);
  // Into memory before the waiters are answered, so a request arriving right after finds it.
  if (result && cacheable) MemoryPut(key, *result);
  loads_.Complete(key, result);
  if (result && cacheable && disk_) DiskPut(key, *result);
}

std::optional<SourceImage> SourceCache::MemoryGet(const std::string& key) {
  auto entry = memory_.Get(key);
  if (!entry) return std::nullopt;
  if (std::chrono::steady_clock::now() - entry->stored > config_.ttl) {
    memory_.Erase(key);
    return std::nullopt;
  }
  return entry->image;
}

void SourceCache::MemoryPut(const std::string& key, const SourceImage& image) {
  if (!image.bytes) return;  // streamed to a file: too large for memory
  memory_.Put(key, std::make_shared<const MemoryEntry>(
                       MemoryEntry{image, std::chrono::steady_clock::now()}));
}

std::optional<SourceImage> SourceCache::DiskGet(const std::string& key) {
  const std::string file_key = storage::Sha256Hex(key);
  auto hit = disk_->Get(file_key);
  if (!hit || !*hit) return std::nullopt;
  auto& entry = **hit;
  auto times = ParseLabel(entry.label);
  // Expired, or over a size limit lowered since it was stored.
  if (!times || UnixNow() - times->first > config_.ttl.count() ||
      static_cast<int64_t>(entry.size) > max_bytes_) {
    disk_->Erase(file_key);
    return std::nullopt;
  }
  SourceImage image;
  image.last_modified = times->second;
  if (static_cast<int64_t>(entry.size) > file_bytes_) {
    // A private link keeps the bytes alive for the decoder even if the entry is evicted now.
    std::string link = disk_->TempPath();
    if (::link(entry.path.c_str(), link.c_str()) != 0) return std::nullopt;
    image.file = std::make_shared<const storage::SpilledFile>(link, entry.size);
  } else {
    auto bytes = common::ReadUpTo(entry.fd.get(), entry.size);
    if (!bytes || bytes->size() != entry.size) return std::nullopt;
    image.bytes = common::MakeShared(*std::move(bytes));
  }
  return image;
}

void SourceCache::DiskPut(const std::string& key, const SourceImage& image) {
  const std::string file_key = storage::Sha256Hex(key);
  const std::string label = Label(UnixNow(), image.last_modified);
  auto stored = image.file ? disk_->PutFile(file_key, label, image.file->path())
                           : disk_->Put(file_key, label, *image.bytes);
  if (!stored)
    spdlog::warn("source cache: cannot write to {}: {}", config_.disk_dir, stored.error().message);
}

SourceCache::Stats SourceCache::stats() const {
  Stats s;
  s.memory_hits = memory_hits_.load(std::memory_order_relaxed);
  s.disk_hits = disk_hits_.load(std::memory_order_relaxed);
  s.fetches = fetches_.load(std::memory_order_relaxed);
  s.spilled = spilled_.load(std::memory_order_relaxed);
  s.coalesced = coalesced_.load(std::memory_order_relaxed);
  s.memory_bytes = memory_.size_bytes();
  s.disk_bytes = disk_ ? static_cast<int64_t>(disk_->size_bytes()) : 0;
  return s;
}

}  // namespace imgorigin::sources
