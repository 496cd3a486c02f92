#include "cache/disk_tier.h"

#include <cerrno>
#include <cstring>

namespace imgorigin::cache {

using common::ErrorCode;
using common::Fail;

common::Result<std::unique_ptr<DiskTier>> DiskTier::Open(Config config) {
  auto lru = storage::DiskLru::Open(std::move(config));
  if (!lru) return Fail(ErrorCode::kInternal, "disk cache: " + lru.error().message);
  return std::unique_ptr<DiskTier>(new DiskTier(*std::move(lru)));
}

common::Result<std::optional<std::string>> DiskTier::Get(const std::string& key) {
  auto hit = lru_->Get(key);
  if (!hit) return std::unexpected(hit.error());
  if (!*hit) return std::nullopt;
  auto bytes = common::ReadUpTo((*hit)->fd.get(), (*hit)->size);
  if (!bytes) {
    return Fail(ErrorCode::kInternal, std::string("disk cache read: ") + std::strerror(errno));
  }
  return bytes;  // a torn file fails the entry checksum in the caller
}

common::Result<bool> DiskTier::Put(const std::string& key, std::string_view entry) {
  if (!storage::IsDiskKey(key)) return Fail(ErrorCode::kInternal, "disk cache: not a variant key");
  return lru_->Put(key, "", entry);
}

common::Result<void> DiskTier::Erase(const std::string& key) {
  lru_->Erase(key);
  return {};
}

}  // namespace imgorigin::cache
