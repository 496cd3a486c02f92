#include "storage/disk_lru.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

namespace imgorigin::storage {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;
using common::Fail;

constexpr size_t kKeyLength = 64;
constexpr size_t kMaxLabel = 64;
constexpr char kTempDir[] = "tmp";

common::Error Errno(std::string_view what) {
  return common::Error{ErrorCode::kInternal, std::string(what) + ": " + std::strerror(errno)};
}

bool IsLabel(std::string_view label) {
  return label.size() <= kMaxLabel &&
         label.find_first_not_of("0123456789abcdefghijklmnopqrstuvwxyz_-") == label.npos;
}

// Copies `from` to the new file `to` in the kernel (cross-device fallback for link()).
bool CopyFile(const std::string& from, const std::string& to) {
  common::UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  common::UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!in.valid() || !out.valid()) return false;
  while (true) {
    ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, 1 << 20, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
  }
}

}  // namespace

bool IsDiskKey(std::string_view name) {
  return name.size() == kKeyLength && name.find_first_not_of("0123456789abcdef") == name.npos;
}

common::Result<void> DiskLru::Config::Validate() const {
  if (dir.empty()) return Fail(ErrorCode::kInvalidArgument, "disk cache directory is empty");
  if (capacity_bytes == 0) return Fail(ErrorCode::kInvalidArgument, "disk cache size must be > 0");
  return {};
}

DiskLru::DiskLru(PassKey, Config config) : config_(std::move(config)) {}

common::Result<std::unique_ptr<DiskLru>> DiskLru::Open(Config config) {
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  std::error_code ec;
  fs::create_directories(fs::path(config.dir) / kTempDir, ec);
  if (ec) return Fail(ErrorCode::kInternal, "cannot create " + config.dir + ": " + ec.message());
  auto lru = std::make_unique<DiskLru>(PassKey{}, std::move(config));
  lru->Rebuild();
  return lru;
}

std::string DiskLru::PathOf(const std::string& key, std::string_view label) const {
  // 256 fan-out directories keep each one small enough for fast lookups on any filesystem.
  std::string path = config_.dir + "/" + key.substr(0, 2) + "/" + key;
  if (!label.empty()) path += "." + std::string(label);
  return path;
}

void DiskLru::Rebuild() {
  struct Found {
    Slot slot;
    int64_t mtime_ns;
  };
  std::vector<Found> found;
  std::error_code ec;
  // Temporaries are leftovers of writes a crash interrupted, or callers' private links.
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
      const std::string key = name.substr(0, kKeyLength);
      const bool labelled = name.size() > kKeyLength && name[kKeyLength] == '.';
      const std::string label = labelled ? name.substr(kKeyLength + 1) : "";
      struct stat st {};
      if (!IsDiskKey(key) || !key.starts_with(fan_name) ||
          (name.size() > kKeyLength && !labelled) || !IsLabel(label) ||
          stat(file.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        continue;
      }
      found.push_back(
          {{key, label, static_cast<uint64_t>(st.st_size)},
           static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec});
    }
  }
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.mtime_ns > b.mtime_ns; });
  std::lock_guard lock(mu_);
  for (auto& f : found) {
    if (index_.contains(f.slot.key)) {
      // An older copy under another label, left by a crash during a replacement.
      ::unlink(PathOf(f.slot.key, f.slot.label).c_str());
      continue;
    }
    bytes_ += f.slot.size;
    order_.push_back(std::move(f.slot));
    index_.emplace(order_.back().key, std::prev(order_.end()));
  }
  EvictLocked();
}

common::Result<std::optional<DiskLru::Hit>> DiskLru::Get(const std::string& key) {
  Hit hit;
  {
    std::lock_guard lock(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    order_.splice(order_.begin(), order_, it->second);
    hit.label = it->second->label;
  }
  hit.path = PathOf(key, hit.label);
  hit.fd = common::UniqueFd(::open(hit.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!hit.fd.valid()) {
    // Evicted or replaced by another thread between the look-up and the open, or removed by
    // hand: a plain miss, and an index that no longer counts a file that is gone.
    if (errno == ENOENT) {
      std::lock_guard lock(mu_);
      if (auto it = index_.find(key); it != index_.end() && it->second->label == hit.label) {
        bytes_ -= it->second->size;
        order_.erase(it->second);
        index_.erase(it);
      }
      return std::nullopt;
    }
    return std::unexpected(Errno("disk cache read"));
  }
  struct stat st {};
  if (::fstat(hit.fd.get(), &st) != 0) return std::unexpected(Errno("disk cache stat"));
  hit.size = static_cast<uint64_t>(st.st_size);
  ::futimens(hit.fd.get(), nullptr);  // the last use, for the LRU order after a restart
  return hit;
}

std::string DiskLru::TempPath() {
  std::lock_guard lock(mu_);
  return config_.dir + "/" + kTempDir + "/" + std::to_string(::getpid()) + "." +
         std::to_string(++sequence_);
}

common::Result<bool> DiskLru::Put(const std::string& key, std::string_view label,
                                  std::string_view bytes) {
  if (bytes.size() > config_.capacity_bytes) return false;
  const std::string tmp = TempPath();
  {
    common::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.valid()) return std::unexpected(Errno("disk cache write"));
    if (!common::WriteAll(fd.get(), bytes)) {
      auto error = Errno("disk cache write");
      ::unlink(tmp.c_str());
      return std::unexpected(error);
    }
  }
  return Publish(key, label, tmp, bytes.size());
}

common::Result<bool> DiskLru::PutFile(const std::string& key, std::string_view label,
                                      const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::unexpected(Errno("disk cache stat"));
  if (static_cast<uint64_t>(st.st_size) > config_.capacity_bytes) return false;
  const std::string tmp = TempPath();
  if (::link(path.c_str(), tmp.c_str()) != 0 && !CopyFile(path, tmp)) {
    auto error = Errno("disk cache write");
    ::unlink(tmp.c_str());
    return std::unexpected(error);
  }
  return Publish(key, label, tmp, static_cast<uint64_t>(st.st_size));
}

common::Result<bool> DiskLru::Publish(const std::string& key, std::string_view label,
                                      const std::string& tmp, uint64_t size) {
  if (!IsDiskKey(key) || !IsLabel(label)) {
    ::unlink(tmp.c_str());
    return Fail(ErrorCode::kInternal, "disk cache: bad key or label");
  }
  const std::string path = PathOf(key, label);
  // Rename and index change happen together: otherwise an eviction of the old entry could
  // unlink the file just renamed into place, and the index would count bytes no longer on disk.
  std::lock_guard lock(mu_);
  int renamed = ::rename(tmp.c_str(), path.c_str());
  if (renamed != 0 && errno == ENOENT) {
    // The fan-out directory is created lazily, by the first entry that needs it.
    ::mkdir(path.substr(0, path.rfind('/')).c_str(), 0755);
    renamed = ::rename(tmp.c_str(), path.c_str());
  }
  if (renamed != 0) {
    auto error = Errno("disk cache rename");
    ::unlink(tmp.c_str());
    return std::unexpected(error);
  }
  if (auto it = index_.find(key); it != index_.end()) {
    if (it->second->label != label) ::unlink(PathOf(key, it->second->label).c_str());
    bytes_ -= it->second->size;
    order_.erase(it->second);
    index_.erase(it);
  }
  order_.push_front({key, std::string(label), size});
  index_.emplace(key, order_.begin());
  bytes_ += size;
  EvictLocked();
  return true;
}

void DiskLru::DropLocked(Order::iterator slot) {
  ::unlink(PathOf(slot->key, slot->label).c_str());
  bytes_ -= slot->size;
  index_.erase(slot->key);
  order_.erase(slot);
}

void DiskLru::EvictLocked() {
  while (bytes_ > config_.capacity_bytes && !order_.empty()) DropLocked(std::prev(order_.end()));
}

void DiskLru::Erase(const std::string& key) {
  std::lock_guard lock(mu_);
  if (auto it = index_.find(key); it != index_.end()) DropLocked(it->second);
}

uint64_t DiskLru::size_bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

size_t DiskLru::entries() const {
  std::lock_guard lock(mu_);
  return index_.size();
}

}  // namespace imgorigin::storage
