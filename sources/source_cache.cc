#include "sources/source_cache.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <vector>

#include "common/fd.h"

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

std::string Sha256Hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

std::optional<std::string> ReadWhole(const std::string& path, int64_t size) {
  common::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::nullopt;
  std::string bytes(static_cast<size_t>(size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    done += static_cast<size_t>(n);
  }
  return bytes;
}

// Copies `from` to the new file `to` without holding it in memory (cross-device fallback for
// link()).
bool CopyFile(const std::string& from, const std::string& to) {
  common::UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  common::UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (in.get() < 0 || out.get() < 0) return false;
  while (true) {
    ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, 1 << 20, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
  }
}

// Disk entry names: "<sha256 of url>-<stored unix s>-<last-modified unix s>".
std::optional<std::pair<std::string, std::pair<int64_t, int64_t>>> ParseName(
    std::string_view name) {
  if (name.size() < 68 || name[64] != '-') return std::nullopt;
  std::string_view rest = name.substr(65);
  size_t dash = rest.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  int64_t stored = 0;
  int64_t modified = 0;
  if (std::from_chars(rest.data(), rest.data() + dash, stored).ec != std::errc() ||
      std::from_chars(rest.data() + dash + 1, rest.data() + rest.size(), modified).ec !=
          std::errc()) {
    return std::nullopt;
  }
  return std::pair{std::string(name.substr(0, 64)), std::pair{stored, modified}};
}

}  // namespace

Result<void> SourceCache::Config::Validate() const {
  if (disk_bytes < 0)
    return Fail(ErrorCode::kInvalidArgument, "source cache disk size must be >= 0");
  if (ttl.count() < 0) return Fail(ErrorCode::kInvalidArgument, "source cache ttl must be >= 0");
  return {};
}

SourceCache::SourceCache(const Config& config, const SourceRouter& sources, common::ThreadPool& io,
                         int64_t file_bytes, int64_t max_bytes)
    : config_(config), sources_(sources), io_(io), file_bytes_(file_bytes), max_bytes_(max_bytes) {}

SourceCache::~SourceCache() = default;

Result<std::unique_ptr<SourceCache>> SourceCache::Open(const Config& config,
                                                       const SourceRouter& sources,
                                                       common::ThreadPool& io, int64_t file_bytes,
                                                       int64_t max_bytes) {
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  std::unique_ptr<SourceCache> cache(new SourceCache(config, sources, io, file_bytes, max_bytes));
  if (!config.disk_dir.empty()) {
    if (auto r = cache->IndexDisk(); !r) return std::unexpected(r.error());
  }
  return cache;
}

Result<void> SourceCache::IndexDisk() {
  std::error_code ec;
  const fs::path root(config_.disk_dir);
  // Half-written entries and decoder links left by a previous run are garbage.
  fs::remove_all(root / "tmp", ec);
  fs::create_directories(root / "tmp", ec);
  fs::create_directories(root / "objects", ec);
  if (ec) {
    return Fail(ErrorCode::kInternal,
                "source cache directory \"" + config_.disk_dir + "\" cannot be created");
  }
  struct Found {
    std::string hash;
    DiskEntry entry;
    fs::file_time_type used;
  };
  std::vector<Found> found;
  for (const auto& file : fs::directory_iterator(root / "objects", ec)) {
    std::string name = file.path().filename();
    auto parsed = ParseName(name);
    std::error_code size_ec;
    auto size = file.file_size(size_ec);
    if (!parsed || size_ec || static_cast<int64_t>(size) > max_bytes_) {
      fs::remove(file.path(), size_ec);
      continue;
    }
    found.push_back(
        {parsed->first,
         {name, static_cast<int64_t>(size), parsed->second.first, parsed->second.second},
         file.last_write_time(size_ec)});
  }
  // The file's mtime is bumped on every hit, so it orders the entries by last use.
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.used > b.used; });
  std::lock_guard lock(disk_mu_);
  for (auto& f : found) {
    if (disk_index_.contains(f.hash)) {
      fs::remove(root / "objects" / f.entry.name, ec);
      continue;
    }
    disk_.emplace_back(f.hash, f.entry);
    disk_index_[f.hash] = std::prev(disk_.end());
    disk_size_ += f.entry.size;
  }
  DiskEvict();
  spdlog::info("source cache: {} original(s), {} MiB on disk in {}", disk_.size(), disk_size_ >> 20,
               config_.disk_dir);
  return {};
}

void SourceCache::Fetch(const std::string& url, Done done) {
  if (Cacheable(url)) {
    if (auto hit = MemoryGet(url)) {
      memory_hits_.fetch_add(1, std::memory_order_relaxed);
      done(*hit);
      return;
    }
  }
  if (!loads_.Join(url, std::move(done))) {
    coalesced_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!io_.TrySubmit([this, url] { Load(url); })) {
    loads_.Complete(url, Fail(ErrorCode::kOverloaded, "server is busy, retry shortly"));
  }
}

void SourceCache::Load(const std::string& url) {
  const bool cacheable = Cacheable(url);
  if (cacheable && !config_.disk_dir.empty()) {
    if (auto hit = DiskGet(url)) {
      disk_hits_.fetch_add(1, std::memory_order_relaxed);
      MemoryPut(url, *hit);
      loads_.Complete(url, *hit);
      return;
    }
  }
  fetches_.fetch_add(1, std::memory_order_relaxed);
  Result<SourceImage> result = sources_.Fetch(url);
  // Into memory before the waiters are answered, so a request arriving right after finds it.
  if (result && cacheable) MemoryPut(url, *result);
  loads_.Complete(url, result);
  if (result && cacheable && !config_.disk_dir.empty()) DiskPut(url, *result);
}

std::optional<SourceImage> SourceCache::MemoryGet(const std::string& url) {
  std::lock_guard lock(memory_mu_);
  auto it = memory_index_.find(url);
  if (it == memory_index_.end()) return std::nullopt;
  if (std::chrono::steady_clock::now() - it->second->stored > config_.ttl) {
    memory_size_ -= it->second->image.bytes->size();
    memory_.erase(it->second);
    memory_index_.erase(it);
    return std::nullopt;
  }
  memory_.splice(memory_.begin(), memory_, it->second);
  return it->second->image;
}

void SourceCache::MemoryPut(const std::string& url, const SourceImage& image) {
  // One original may take at most an eighth of the tier, so a few big ones cannot flush it.
  if (!image.bytes || image.bytes->size() > config_.memory_bytes / 8) return;
  std::lock_guard lock(memory_mu_);
  if (auto it = memory_index_.find(url); it != memory_index_.end()) {
    memory_size_ -= it->second->image.bytes->size();
    memory_.erase(it->second);
    memory_index_.erase(it);
  }
  memory_.push_front({url, image, std::chrono::steady_clock::now()});
  memory_index_[url] = memory_.begin();
  memory_size_ += image.bytes->size();
  while (memory_size_ > config_.memory_bytes && !memory_.empty()) {
    memory_size_ -= memory_.back().image.bytes->size();
    memory_index_.erase(memory_.back().url);
    memory_.pop_back();
  }
}

std::optional<SourceImage> SourceCache::DiskGet(const std::string& url) {
  const std::string hash = Sha256Hex(url);
  const fs::path root(config_.disk_dir);
  DiskEntry entry;
  {
    std::lock_guard lock(disk_mu_);
    auto it = disk_index_.find(hash);
    if (it == disk_index_.end()) return std::nullopt;
    if (UnixNow() - it->second->second.stored > config_.ttl.count()) {
      std::error_code ec;
      fs::remove(root / "objects" / it->second->second.name, ec);
      disk_size_ -= it->second->second.size;
      disk_.erase(it->second);
      disk_index_.erase(it);
      return std::nullopt;
    }
    disk_.splice(disk_.begin(), disk_, it->second);
    entry = it->second->second;
  }
  const std::string path = (root / "objects" / entry.name).string();
  ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // last use, for LRU order after a restart
  SourceImage image;
  image.last_modified = entry.last_modified;
  if (entry.size > file_bytes_) {
    // A private link keeps the bytes alive for the decoder even if the entry is evicted now.
    std::string link = (root / "tmp" / ("d" + std::to_string(temp_counter_++))).string();
    if (::link(path.c_str(), link.c_str()) != 0) return std::nullopt;
    image.file = std::make_shared<const storage::SpilledFile>(link, entry.size);
  } else {
    auto bytes = ReadWhole(path, entry.size);
    if (!bytes) return std::nullopt;
    image.bytes = common::MakeShared(*std::move(bytes));
  }
  return image;
}

void SourceCache::DiskPut(const std::string& url, const SourceImage& image) {
  const int64_t size = image.size();
  if (size > config_.disk_bytes) return;
  const fs::path root(config_.disk_dir);
  const std::string hash = Sha256Hex(url);
  DiskEntry entry{
      hash + "-" + std::to_string(UnixNow()) + "-" + std::to_string(image.last_modified), size,
      UnixNow(), image.last_modified};
  const std::string temp = (root / "tmp" / ("w" + std::to_string(temp_counter_++))).string();
  bool written = false;
  if (image.file) {
    written =
        ::link(image.file->path().c_str(), temp.c_str()) == 0 || CopyFile(image.file->path(), temp);
  } else {
    common::UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    written = fd.get() >= 0 && common::WriteAll(fd.get(), *image.bytes);
  }
  std::error_code ec;
  if (!written || ::rename(temp.c_str(), (root / "objects" / entry.name).c_str()) != 0) {
    fs::remove(temp, ec);
    spdlog::warn("source cache: cannot write to {}", config_.disk_dir);
    return;
  }
  std::lock_guard lock(disk_mu_);
  if (auto it = disk_index_.find(hash); it != disk_index_.end()) {
    if (it->second->second.name != entry.name)
      fs::remove(root / "objects" / it->second->second.name, ec);
    disk_size_ -= it->second->second.size;
    disk_.erase(it->second);
    disk_index_.erase(it);
  }
  disk_.emplace_front(hash, entry);
  disk_index_[hash] = disk_.begin();
  disk_size_ += size;
  DiskEvict();
}

void SourceCache::DiskEvict() {
  const fs::path objects = fs::path(config_.disk_dir) / "objects";
  const int64_t now = UnixNow();
  std::error_code ec;
  auto drop = [&](DiskList::iterator it) {
    fs::remove(objects / it->second.name, ec);
    disk_size_ -= it->second.size;
    disk_index_.erase(it->first);
    return disk_.erase(it);
  };
  for (auto it = disk_.begin(); it != disk_.end();) {
    it = now - it->second.stored > config_.ttl.count() ? drop(it) : std::next(it);
  }
  while (disk_size_ > config_.disk_bytes && !disk_.empty()) drop(std::prev(disk_.end()));
}

SourceCache::Stats SourceCache::stats() const {
  Stats s;
  s.memory_hits = memory_hits_.load(std::memory_order_relaxed);
  s.disk_hits = disk_hits_.load(std::memory_order_relaxed);
  s.fetches = fetches_.load(std::memory_order_relaxed);
  s.coalesced = coalesced_.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(memory_mu_);
    s.memory_bytes = memory_size_;
  }
  std::lock_guard lock(disk_mu_);
  s.disk_bytes = disk_size_;
  return s;
}

}  // namespace imgorigin::sources
