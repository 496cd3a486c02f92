#include "cache/disk_tier.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include "common/fd.h"

namespace imgorigin::cache {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;
using common::Fail;

constexpr size_t kKeyLength = 64;
constexpr char kTempDir[] = "tmp";

common::Error Errno(std::string_view what) {
  return common::Error{ErrorCode::kInternal, std::string(what) + ": " + std::strerror(errno)};
}

}  // namespace

bool IsDiskKey(std::string_view name) {
  return name.size() == kKeyLength && name.find_first_not_of("0123456789abcdef") == name.npos;
}

common::Result<void> DiskTier::Config::Validate() const {
  if (dir.empty()) return Fail(ErrorCode::kInvalidArgument, "disk cache directory is empty");
  if (capacity_bytes == 0) return Fail(ErrorCode::kInvalidArgument, "disk cache size must be > 0");
  return {};
}

DiskTier::DiskTier(PassKey, Config config) : config_(std::move(config)) {}

common::Result<std::unique_ptr<DiskTier>> DiskTier::Open(Config config) {
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  std::error_code ec;
  fs::create_directories(fs::path(config.dir) / kTempDir, ec);
  if (ec) {
    return Fail(ErrorCode::kInternal,
                "disk cache: cannot create " + config.dir + ": " + ec.message());
  }
  auto tier = std::make_unique<DiskTier>(PassKey{}, std::move(config));
  tier->Rebuild();
  return tier;
}

std::string DiskTier::PathOf(const std::string& key) const {
  // 256 fan-out directories keep each one small enough for fast lookups on any filesystem.
  return config_.dir + "/" + key.substr(0, 2) + "/" + key;
}

void DiskTier::Rebuild() {
  struct Found {
    std::string key;
    uint64_t size;
    int64_t mtime_ns;
  };
  std::vector<Found> found;
  std::error_code ec;
  // Temporaries are leftovers of writes a crash interrupted; nothing will ever rename them.
  for (const auto& tmp : fs::directory_iterator(fs::path(config_.dir) / kTempDir, ec)) {
    std::error_code ignored;
    fs::remove(tmp.path(), ignored);
  }
  for (const auto& fan : fs::directory_iterator(config_.dir, ec)) {
    const std::string fan_name = fan.path().filename().string();
    if (fan_name.size() != 2 || !fan.is_directory()) continue;
    std::error_code inner;
    for (const auto& file : fs::directory_iterator(fan.path(), inner)) {
      const std::string name = file.path().filename().string();
      struct stat st {};
      if (!IsDiskKey(name) || !name.starts_with(fan_name) || stat(file.path().c_str(), &st) != 0 ||
          !S_ISREG(st.st_mode)) {
        continue;
      }
      found.push_back(
          {name, static_cast<uint64_t>(st.st_size),
           static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec});
    }
  }
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.mtime_ns > b.mtime_ns; });
  std::lock_guard lock(mu_);
  for (auto& f : found) {
    order_.push_back({std::move(f.key), f.size});
    index_.emplace(order_.back().key, std::prev(order_.end()));
    bytes_ += f.size;
  }
  EvictLocked();
}

common::Result<std::optional<std::string>> DiskTier::Get(const std::string& key) {
  {
    std::lock_guard lock(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    order_.splice(order_.begin(), order_, it->second);
  }
  const std::string path = PathOf(key);
  common::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    // Evicted by another thread between the index look-up and the open: a plain miss.
    if (errno == ENOENT) {
      Forget(key);
      return std::nullopt;
    }
    return std::unexpected(Errno("disk cache read"));
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return std::unexpected(Errno("disk cache stat"));
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(Errno("disk cache read"));
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  // The mtime records the last use, so the LRU order survives a restart.
  futimens(fd.get(), nullptr);
  return bytes;
}

common::Result<bool> DiskTier::Put(const std::string& key, std::string_view entry) {
  if (!IsDiskKey(key)) return Fail(ErrorCode::kInternal, "disk cache: not a variant key");
  if (entry.size() > config_.capacity_bytes) return false;
  static std::atomic<uint64_t> sequence{0};
  const std::string tmp = config_.dir + "/" + kTempDir + "/" + key + "." +
                          std::to_string(getpid()) + "." + std::to_string(++sequence);
  {
    common::UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (fd.get() < 0) return std::unexpected(Errno("disk cache write"));
    if (!common::WriteAll(fd.get(), entry)) {
      auto error = Errno("disk cache write");
      unlink(tmp.c_str());
      return std::unexpected(error);
    }
  }
  const std::string path = PathOf(key);
  // Rename and index change happen together: otherwise an eviction of the old entry could
  // unlink the file just renamed into place, and the index would count bytes no longer on disk.
  std::lock_guard lock(mu_);
  int renamed = rename(tmp.c_str(), path.c_str());
  if (renamed != 0 && errno == ENOENT) {
    // The fan-out directory is created lazily, by the first entry that needs it.
    mkdir(path.substr(0, path.rfind('/')).c_str(), 0755);
    renamed = rename(tmp.c_str(), path.c_str());
  }
  if (renamed != 0) {
    auto error = Errno("disk cache rename");
    unlink(tmp.c_str());
    return std::unexpected(error);
  }
  if (auto it = index_.find(key); it != index_.end()) {
    bytes_ -= it->second->size;
    order_.erase(it->second);
    index_.erase(it);
  }
  order_.push_front({key, entry.size()});
  index_.emplace(key, order_.begin());
  bytes_ += entry.size();
  EvictLocked();
  return true;
}

void DiskTier::EvictLocked() {
  while (bytes_ > config_.capacity_bytes && !order_.empty()) {
    const Slot& victim = order_.back();
    unlink(PathOf(victim.key).c_str());
    bytes_ -= victim.size;
    index_.erase(victim.key);
    order_.pop_back();
  }
}

void DiskTier::Forget(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return;
  bytes_ -= it->second->size;
  order_.erase(it->second);
  index_.erase(it);
}

common::Result<void> DiskTier::Erase(const std::string& key) {
  if (!IsDiskKey(key)) return {};
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return {};
  unlink(PathOf(key).c_str());
  bytes_ -= it->second->size;
  order_.erase(it->second);
  index_.erase(it);
  return {};
}

uint64_t DiskTier::size_bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

size_t DiskTier::entries() const {
  std::lock_guard lock(mu_);
  return index_.size();
}

}  // namespace imgorigin::cache
