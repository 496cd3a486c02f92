#include "ingest/originals_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>

#include "ingest/record.h"

namespace imgorigin::ingest {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

Result<void> CheckId(std::string_view id) {
  // Ids become file names and object keys: nothing but a canonical UUID may get there.
  if (auto valid = ValidateId(id); !valid) {
    return Fail(ErrorCode::kInternal, "originals store: not an image id");
  }
  return {};
}

constexpr std::string_view kStore = "originals store";

Result<void> IoError(std::string_view what) { return std::unexpected(StoreIoError(kStore, what)); }

// Copies all of `from` into `to` in the kernel (no bytes pass through user space).
bool CopyFile(int from, int to) {
  for (;;) {
    const ssize_t n = ::copy_file_range(from, nullptr, to, nullptr, 1 << 30, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (n == 0) return true;
  }
  // Older kernels and some file systems have no copy_file_range between these files.
  if (errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL) return false;
  if (::lseek(from, 0, SEEK_SET) < 0 || ::lseek(to, 0, SEEK_SET) < 0 || ::ftruncate(to, 0) != 0) {
    return false;
  }
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(from, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    if (!common::WriteAll(to, std::string_view(buffer, static_cast<size_t>(n)))) return false;
  }
}

bool IsOk(long status) { return status >= 200 && status < 300; }

common::Error TooLarge(int64_t size, int64_t max) {
  return {ErrorCode::kTooLarge, "the uploaded object is " + std::to_string(size) +
                                    " bytes, over the upload limit of " + std::to_string(max)};
}

// A new temporary file in `dir` named into `path`, open for writing.
Result<common::UniqueFd> NewTempFile(const std::string& dir, std::string& path) {
  path = dir + "/imgorigin-original-XXXXXX";
  common::UniqueFd fd(::mkostemp(path.data(), O_CLOEXEC));
  if (!fd.valid()) return std::unexpected(IoError("create a temporary file").error());
  return fd;
}

}  // namespace

Result<void> LocalOriginalsStore::Config::Validate() const {
  if (dir.empty()) return Fail(ErrorCode::kInvalidArgument, "the originals directory is not set");
  if (!url_prefix.starts_with("local:///") || !url_prefix.ends_with("/")) {
    return Fail(ErrorCode::kInvalidArgument, "local originals need a local:///…/ URL prefix");
  }
  return {};
}

Result<std::unique_ptr<LocalOriginalsStore>> LocalOriginalsStore::Open(Config config) {
  if (auto valid = config.Validate(); !valid) return std::unexpected(valid.error());
  std::error_code error;
  std::filesystem::create_directories(config.dir, error);
  common::UniqueFd dir(::open(config.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) {
    return Fail(ErrorCode::kInternal,
                "originals directory \"" + config.dir + "\" cannot be created or opened");
  }
  return std::unique_ptr<LocalOriginalsStore>(
      new LocalOriginalsStore(std::move(config), std::move(dir)));
}

std::string LocalOriginalsStore::SourceUrl(std::string_view id) const {
  return config_.url_prefix + std::string(id);
}

Result<void> LocalOriginalsStore::Put(std::string_view id, const std::string& path,
                                      std::string_view) {
  if (auto valid = CheckId(id); !valid) return valid;
  return Write("", id, path);
}

Result<void> LocalOriginalsStore::PutIncoming(std::string_view id, const std::string& path,
                                              std::string_view) {
  if (auto valid = CheckId(id); !valid) return valid;
  if (::mkdirat(dir_.get(), std::string(kIncoming).c_str(), 0755) != 0 && errno != EEXIST) {
    return IoError("create the incoming directory");
  }
  return Write(kIncoming, id, path);
}

Result<void> LocalOriginalsStore::Write(std::string_view subdir, std::string_view id,
                                        const std::string& path) {
  common::UniqueFd from(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!from.valid()) return IoError("read the upload");
  common::UniqueFd dir(subdir.empty() ? ::fcntl(dir_.get(), F_DUPFD_CLOEXEC, 0)
                                      : ::openat(dir_.get(), std::string(subdir).c_str(),
                                                 O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return IoError("open its directory");
  return WriteFileAtomically(
      dir.get(), std::string(id), [&](int to) { return CopyFile(from.get(), to); }, kStore,
      "write the original");
}

Result<std::string> LocalOriginalsStore::Get(std::string_view id) {
  if (auto valid = CheckId(id); !valid) return std::unexpected(valid.error());
  common::UniqueFd fd(::openat(dir_.get(), std::string(id).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return Fail(ErrorCode::kNotFound, "no such original");
    return std::unexpected(IoError("read an original").error());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::unexpected(IoError("read an original").error());
  auto bytes = common::ReadUpTo(fd.get(), static_cast<size_t>(st.st_size));
  if (!bytes) return std::unexpected(IoError("read an original").error());
  return *std::move(bytes);
}

Result<bool> LocalOriginalsStore::Exists(std::string_view id) {
  if (auto valid = CheckId(id); !valid) return std::unexpected(valid.error());
  struct stat st {};
  if (::fstatat(dir_.get(), std::string(id).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return true;
  if (errno == ENOENT) return false;
  return std::unexpected(IoError("look up an original").error());
}

Result<void> LocalOriginalsStore::Delete(std::string_view id) {
  if (auto valid = CheckId(id); !valid) return valid;
  if (::unlinkat(dir_.get(), std::string(id).c_str(), 0) != 0 && errno != ENOENT) {
    return IoError("delete an original");
  }
  return {};
}

Result<storage::S3Client::PresignedUrl> LocalOriginalsStore::PresignPut(
    std::string_view id, std::string_view content_type, std::chrono::seconds expires) {
  if (config_.upload_urls == nullptr) {
    return Fail(ErrorCode::kConflict,
                "presigned uploads need S3 originals (ingest.originals = s3://bucket/prefix/) or "
                "local ones served by imgorigin; POST the image to /v1/images instead");
  }
  if (auto valid = CheckId(id); !valid) return std::unexpected(valid.error());
  return config_.upload_urls->Sign(id, content_type, expires, std::chrono::system_clock::now());
}

Result<std::shared_ptr<const storage::SpilledFile>> LocalOriginalsStore::FetchIncoming(
    std::string_view id, int64_t max_bytes, const std::string& temp_dir) {
  if (auto valid = CheckId(id); !valid) return std::unexpected(valid.error());
  common::UniqueFd from(::openat(dir_.get(), (std::string(kIncoming) + std::string(id)).c_str(),
                                 O_RDONLY | O_CLOEXEC));
  if (!from.valid()) {
    if (errno == ENOENT) return Fail(ErrorCode::kNotFound, "no such original");
    return std::unexpected(IoError("read an original").error());
  }
  struct stat st {};
  if (::fstat(from.get(), &st) != 0) return std::unexpected(IoError("read an original").error());
  if (st.st_size > max_bytes) return std::unexpected(TooLarge(st.st_size, max_bytes));
  std::string path;
  auto to = NewTempFile(temp_dir, path);
  if (!to) return std::unexpected(to.error());
  if (!CopyFile(from.get(), to->get())) {
    auto failed = IoError("copy an original");
    ::unlink(path.c_str());
    return std::unexpected(failed.error());
  }
  return std::make_shared<const storage::SpilledFile>(std::move(path), st.st_size);
}

Result<void> LocalOriginalsStore::DeleteIncoming(std::string_view id) {
  if (auto valid = CheckId(id); !valid) return valid;
  if (::unlinkat(dir_.get(), (std::string(kIncoming) + std::string(id)).c_str(), 0) != 0 &&
      errno != ENOENT) {
    return IoError("delete an incoming upload");
  }
  return {};
}

std::string S3OriginalsStore::SourceUrl(std::string_view id) const { return config_.Url(id); }

Result<void> S3OriginalsStore::Upload(const storage::S3Client::Object& object,
                                      const std::string& path, std::string_view content_type) {
  if (auto put = s3_->UploadFile(object, path, config_.PutOptions(content_type, fetch_)); !put) {
    return Fail(ErrorCode::kUnavailable,
                "the originals bucket could not be written: " + put.error().message);
  }
  return {};
}

Result<void> S3OriginalsStore::Remove(const storage::S3Client::Object& object,
                                      std::string_view what) {
  if (auto deleted = s3_->DeleteObject(object, fetch_.Retry()); !deleted) {
    return Fail(ErrorCode::kUnavailable, "the originals bucket could not delete " +
                                             std::string(what) + ": " + deleted.error().message);
  }
  return {};
}

Result<void> S3OriginalsStore::Put(std::string_view id, const std::string& path,
                                   std::string_view content_type) {
  if (auto valid = CheckId(id); !valid) return valid;
  return Upload(Object(id), path, content_type);
}

Result<std::string> S3OriginalsStore::Get(std::string_view id) {
  if (auto valid = CheckId(id); !valid) return std::unexpected(valid.error());
  storage::HttpRequest request = fetch_.Request(
      s3_->ObjectUrl(Object(id)), std::numeric_limits<int64_t>::max(), "the originals bucket");
  auto response = s3_->Perform(std::move(request), fetch_.Retry());
  if (!response) return std::unexpected(response.error());
  if (response->status == 404) return Fail(ErrorCode::kNotFound, "no such original");
  if (!IsOk(response->status)) {
    return Fail(ErrorCode::kUnavailable,
                "the originals bucket refused a read (" + storage::S3StatusDetail(*response) + ")");
  }
  if (response->file) {
    const common::MappedFile file(response->file->path());
    if (!file.ok()) return std::unexpected(IoError("read an original").error());
    return std::string(file.bytes());
  }
  return std::move(response->body);
}

Result<bool> S3OriginalsStore::Exists(std::string_view id) {
  if (auto valid = CheckId(id); !valid) return std::unexpected(valid.error());
  auto info = s3_->HeadObject(Object(id), fetch_.Retry());
  if (info) return true;
  if (info.error().code == ErrorCode::kNotFound) return false;
  return Fail(ErrorCode::kUnavailable,
              "the originals bucket could not be read: " + info.error().message);
}

Result<void> S3OriginalsStore::Delete(std::string_view id) {
  if (auto valid = CheckId(id); !valid) return valid;
  return Remove(Object(id), "an original");
}

Result<storage::S3Client::PresignedUrl> S3OriginalsStore::PresignPut(std::string_view id,
                                                                     std::string_view content_type,
                                                                     std::chrono::seconds expires) {
  if (auto valid = CheckId(id); !valid) return std::unexpected(valid.error());
  storage::S3Client::PresignOptions options;
  options.method = "PUT";
  options.expires = expires;
  options.content_type = std::string(content_type);
  // Signed, so an object written through the URL is encrypted as the store's own are.
  options.encryption = config_.encryption();
  auto presigned = s3_->Presign(IncomingObject(id), options);
  if (!presigned && presigned.error().code != ErrorCode::kInvalidArgument) {
    return Fail(ErrorCode::kUnavailable,
                "the originals bucket cannot be written to now: " + presigned.error().message);
  }
  return presigned;
}

Result<std::shared_ptr<const storage::SpilledFile>> S3OriginalsStore::FetchIncoming(
    std::string_view id, int64_t max_bytes, const std::string& temp_dir) {
  if (auto valid = CheckId(id); !valid) return std::unexpected(valid.error());
  // The size first: a client can PUT any size through a presigned URL, and a huge object must be
  // refused without downloading it.
  auto info = s3_->HeadObject(IncomingObject(id), fetch_.Retry());
  if (!info) {
    if (info.error().code == ErrorCode::kNotFound) return std::unexpected(info.error());
    return Fail(ErrorCode::kUnavailable,
                "the originals bucket could not be read: " + info.error().message);
  }
  if (info->size > max_bytes) return std::unexpected(TooLarge(info->size, max_bytes));
  storage::HttpRequest request =
      fetch_.Request(s3_->ObjectUrl(IncomingObject(id)), max_bytes, "the originals bucket");
  request.spill_bytes = 0;  // always into a file, which the checks read from disk
  request.spill_dir = temp_dir;
  auto response = s3_->Perform(std::move(request), fetch_.Retry());
  if (!response) {
    // Replaced by a larger object since the HEAD.
    if (response.error().code == ErrorCode::kTooLarge) return std::unexpected(response.error());
    return Fail(ErrorCode::kUnavailable,
                "the originals bucket could not be read: " + response.error().message);
  }
  if (response->status == 404) return Fail(ErrorCode::kNotFound, "no such original");
  if (!IsOk(response->status)) {
    return Fail(ErrorCode::kUnavailable,
                "the originals bucket refused a read (" + storage::S3StatusDetail(*response) + ")");
  }
  if (response->file) return response->file;
  // An empty body (or one sent without a length) arrives in memory.
  std::string path;
  auto fd = NewTempFile(temp_dir, path);
  if (!fd) return std::unexpected(fd.error());
  if (!common::WriteAll(fd->get(), response->body)) {
    auto failed = IoError("write a temporary file");
    ::unlink(path.c_str());
    return std::unexpected(failed.error());
  }
  return std::make_shared<const storage::SpilledFile>(std::move(path),
                                                      static_cast<int64_t>(response->body.size()));
}

Result<void> S3OriginalsStore::DeleteIncoming(std::string_view id) {
  if (auto valid = CheckId(id); !valid) return valid;
  return Remove(IncomingObject(id), "an upload");
}

Result<void> S3OriginalsStore::PutIncoming(std::string_view id, const std::string& path,
                                           std::string_view content_type) {
  if (auto valid = CheckId(id); !valid) return valid;
  return Upload(IncomingObject(id), path, content_type);
}

}  // namespace imgorigin::ingest
