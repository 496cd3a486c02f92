#include "ingest/variants_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <filesystem>

#include "ingest/record.h"

namespace imgorigin::ingest {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

constexpr std::string_view kStore = "variants store";

bool IsPlainName(std::string_view name) {
  if (name.empty() || name.front() == '.') return false;
  for (const char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

Result<std::string> ObjectName(std::string_view id, std::string_view preset, std::string_view ext) {
  if (auto valid = ValidateId(id); !valid) {
    return Fail(ErrorCode::kInvalidArgument, "variants store: not an image id");
  }
  if (auto valid = ValidateVariantName(preset, ext); !valid) return std::unexpected(valid.error());
  return std::string(preset) + "." + std::string(ext);
}

}  // namespace

Result<void> ValidateVariantName(std::string_view preset, std::string_view ext) {
  if (preset.size() > kMaxPresetNameBytes || !IsPlainName(preset) || !IsPlainName(ext)) {
    return Fail(ErrorCode::kInvalidArgument,
                "variants store: \"" + std::string(preset) + "." + std::string(ext) +
                    "\" is not a plain file name (letters, digits, -, _ and .)");
  }
  return {};
}

Result<std::unique_ptr<LocalVariantsStore>> LocalVariantsStore::Open(std::string dir) {
  if (dir.empty()) return Fail(ErrorCode::kInvalidArgument, "the variants directory is not set");
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  common::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    return Fail(ErrorCode::kInternal,
                "variants directory \"" + dir + "\" cannot be created or opened");
  }
  while (dir.size() > 1 && dir.ends_with('/')) dir.pop_back();
  return std::unique_ptr<LocalVariantsStore>(new LocalVariantsStore(std::move(dir), std::move(fd)));
}

Result<std::string> LocalVariantsStore::Put(std::string_view id, std::string_view preset,
                                            std::string_view ext, std::string_view bytes,
                                            std::string_view) {
  auto name = ObjectName(id, preset, ext);
  if (!name) return name;
  const std::string image_dir(id);
  if (::mkdirat(fd_.get(), image_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return std::unexpected(StoreIoError(kStore, "create a directory"));
  }
  common::UniqueFd dir(
      ::openat(fd_.get(), image_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) return std::unexpected(StoreIoError(kStore, "open a directory"));
  auto written = WriteFileAtomically(
      dir.get(), *name, [bytes](int fd) { return common::WriteAll(fd, bytes); }, kStore,
      "write a variant");
  if (!written) return std::unexpected(written.error());
  return dir_ + "/" + image_dir + "/" + *name;
}

Result<void> LocalVariantsStore::Remove(std::string_view id, std::string_view preset,
                                        std::string_view ext) {
  auto name = ObjectName(id, preset, ext);
  if (!name) return std::unexpected(name.error());
  const std::string path = std::string(id) + "/" + *name;
  if (::unlinkat(fd_.get(), path.c_str(), 0) != 0 && errno != ENOENT) {
    return std::unexpected(StoreIoError(kStore, "delete a variant"));
  }
  // The image's directory goes with its last variant; another variant still in it keeps it.
  (void)::unlinkat(fd_.get(), std::string(id).c_str(), AT_REMOVEDIR);
  return {};
}

Result<std::string> S3VariantsStore::Put(std::string_view id, std::string_view preset,
                                         std::string_view ext, std::string_view bytes,
                                         std::string_view content_type) {
  auto name = ObjectName(id, preset, ext);
  if (!name) return name;
  const std::string key = std::string(id) + "/" + *name;
  auto put =
      s3_->PutObject(location_.Object(key), bytes, location_.PutOptions(content_type, fetch_));
  if (!put) {
    return Fail(ErrorCode::kUnavailable,
                "the variants bucket could not be written: " + put.error().message);
  }
  return location_.Url(key);
}

Result<void> S3VariantsStore::Remove(std::string_view id, std::string_view preset,
                                     std::string_view ext) {
  auto name = ObjectName(id, preset, ext);
  if (!name) return std::unexpected(name.error());
  if (auto deleted = s3_->DeleteObject(location_.Object(std::string(id) + "/" + *name),
                                       fetch_.Retry());
      !deleted) {
    return Fail(ErrorCode::kUnavailable,
                "the variants bucket could not be written: " + deleted.error().message);
  }
  return {};
}

}  // namespace imgorigin::ingest
