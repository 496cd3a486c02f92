#include "ingest/object_location.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "common/fd.h"

namespace imgorigin::ingest {

using common::ErrorCode;
using common::Fail;
using common::Result;

Result<S3Location> S3Location::Parse(std::string_view url) {
  constexpr std::string_view kScheme = "s3://";
  if (!url.starts_with(kScheme)) {
    return Fail(ErrorCode::kInvalidArgument, "expected s3://bucket/prefix/");
  }
  url.remove_prefix(kScheme.size());
  const size_t slash = url.find('/');
  S3Location location;
  location.bucket = std::string(url.substr(0, slash));
  if (slash != std::string_view::npos) location.prefix = std::string(url.substr(slash + 1));
  if (!location.prefix.empty() && !location.prefix.ends_with("/")) location.prefix += '/';
  if (location.prefix.find('?') != std::string::npos || location.prefix.starts_with("/")) {
    return Fail(ErrorCode::kInvalidArgument, "the prefix may not start with \"/\" or hold \"?\"");
  }
  if (auto valid = location.Validate(); !valid) return std::unexpected(valid.error());
  return location;
}

Result<void> S3Location::Validate() const {
  if (!storage::IsValidBucketName(bucket)) {
    return Fail(ErrorCode::kInvalidArgument, "\"" + bucket + "\" is not a valid bucket name");
  }
  if (!prefix.empty() && !prefix.ends_with("/")) {
    return Fail(ErrorCode::kInvalidArgument, "the prefix must end with \"/\"");
  }
  return encryption().Validate();
}

storage::S3Client::PutOptions S3Location::PutOptions(std::string_view content_type,
                                                     const storage::FetchConfig& fetch) const {
  storage::S3Client::PutOptions options;
  options.content_type = std::string(content_type);
  options.encryption = encryption();
  options.timeout = fetch.timeout;
  options.retry = fetch.Retry();
  return options;
}

common::Error StoreIoError(std::string_view store, std::string_view what) {
  return {ErrorCode::kUnavailable, "the " + std::string(store) + " could not " + std::string(what) +
                                       ": " + std::strerror(errno)};
}

Result<void> WriteFileAtomically(int dir, const std::string& name,
                                 const std::function<bool(int fd)>& fill, std::string_view store,
                                 std::string_view what) {
  // A name of its own per writer: two workers handling one job at once (at-least-once delivery)
  // must not write into one temporary file.
  thread_local std::mt19937_64 random(std::random_device{}());
  const std::string temp = "." + name + "." + std::to_string(random()) + ".tmp";
  common::UniqueFd to(::openat(dir, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!to.valid()) return std::unexpected(StoreIoError(store, "create a file"));
  // Synced before the rename and the directory after it: once this returns, the file survives a
  // crash, so a record written next never points at a file that is not there.
  if (!fill(to.get()) || ::fsync(to.get()) != 0 ||
      ::renameat(dir, temp.c_str(), dir, name.c_str()) != 0) {
    auto failed = StoreIoError(store, what);
    ::unlinkat(dir, temp.c_str(), 0);
    return std::unexpected(failed);
  }
  ::fsync(dir);
  return {};
}

}  // namespace imgorigin::ingest
