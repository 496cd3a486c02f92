#include "ingest/batch_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "common/fd.h"
#include "common/handle.h"
#include "ingest/object_location.h"
#include "transforms/format.h"

namespace imgorigin::ingest {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;
namespace fs = std::filesystem;

constexpr std::string_view kSidecarSuffix = ".imgorigin";
constexpr std::string_view kMadeFrom = "imgorigin-made-from";  // S3 user metadata
constexpr std::string_view kStagingDir = ".imgorigin-batch";     // in a local destination

std::string Parent(std::string_view name) {
  const size_t slash = name.rfind('/');
  return slash == std::string_view::npos ? "" : std::string(name.substr(0, slash));
}

std::string Base(std::string_view name) {
  const size_t slash = name.rfind('/');
  return std::string(slash == std::string_view::npos ? name : name.substr(slash + 1));
}

// "<stem>_files": the tile tree dzsave writes beside "<stem>.dzi".
std::string TilesOf(std::string_view dzi) {
  return std::string(dzi.substr(0, dzi.size() - 4)) + "_files";
}

bool IsDzi(std::string_view name) { return name.ends_with(".dzi"); }

common::Error IoError(std::string_view what, const std::string& path) {
  return {ErrorCode::kUnavailable, std::string(what) + " " + path + ": " + std::strerror(errno)};
}

// A unique directory under `root`: "<pid>-<n>" (the pid lets a later run remove what a killed
// one left behind).
Result<std::string> MakeStagingDir(const std::string& root) {
  static std::atomic<uint64_t> next{0};
  std::error_code error;
  fs::create_directories(root, error);
  const std::string dir = root + "/" + std::to_string(::getpid()) + "-" + std::to_string(next++);
  if (::mkdir(dir.c_str(), 0700) != 0) return std::unexpected(IoError("cannot create", dir));
  return dir;
}

// Removes the staging directories of processes that are gone (a run killed mid-way).
void RemoveAbandonedStaging(const std::string& root) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(root, error)) {
    const std::string name = entry.path().filename();
    const pid_t pid = static_cast<pid_t>(std::atol(name.c_str()));
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) fs::remove_all(entry.path(), error);
  }
}

std::string LocalVersion(const struct stat& st) {
  const int64_t ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
  return std::to_string(ns) + "-" + std::to_string(st.st_size);
}

// ---- Local directory ----------------------------------------------------------------------

class LocalLister final : public BatchLister {
 public:
  LocalLister(std::string root, int page_size) : root_(std::move(root)), page_size_(page_size) {
    Enter("");
  }

  Result<std::vector<BatchItem>> Next() override {
    std::vector<BatchItem> page;
    while (!stack_.empty() && static_cast<int>(page.size()) < page_size_) {
      Level& level = stack_.back();
      errno = 0;
      const dirent* entry = ::readdir(level.dir.get());
      if (entry == nullptr) {
        if (errno != 0) return std::unexpected(IoError("cannot read", root_ + "/" + level.prefix));
        stack_.pop_back();
        continue;
      }
      if (entry->d_name[0] == '.') continue;  // ".", "..", hidden files and our own staging
      const std::string name = level.prefix + entry->d_name;
      struct stat st {};
      // Follows symlinks to files; a symlinked directory is not entered (no loops).
      if (::fstatat(::dirfd(level.dir.get()), entry->d_name, &st, 0) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        struct stat link {};
        if (::fstatat(::dirfd(level.dir.get()), entry->d_name, &link, AT_SYMLINK_NOFOLLOW) == 0 &&
            !S_ISLNK(link.st_mode)) {
          if (auto entered = Enter(name + "/"); !entered) return std::unexpected(entered.error());
        }
        continue;
      }
      if (S_ISREG(st.st_mode)) page.push_back({name, st.st_size, LocalVersion(st)});
    }
    return page;
  }

 private:
  struct Level {
    common::Handle<DIR, ::closedir> dir;
    std::string prefix;  // "" or "a/b/"
  };

  Result<void> Enter(const std::string& prefix) {
    const std::string path = root_ + "/" + prefix;
    common::Handle<DIR, ::closedir> dir(::opendir(path.c_str()));
    if (!dir) return std::unexpected(IoError("cannot open", path));
    stack_.push_back({std::move(dir), prefix});
    return {};
  }

  const std::string root_;
  const int page_size_;
  std::vector<Level> stack_;  // one open directory per depth
};

// A lister that fails on its first page (a root that could not be opened).
class FailedLister final : public BatchLister {
 public:
  explicit FailedLister(common::Error error) : error_(std::move(error)) {}
  Result<std::vector<BatchItem>> Next() override { return std::unexpected(error_); }

 private:
  common::Error error_;
};

class LocalBatchStore final : public BatchStore {
 public:
  explicit LocalBatchStore(std::string root) : root_(std::move(root)) {}

  std::unique_ptr<BatchLister> List(int page_size) const override {
    common::Handle<DIR, ::closedir> probe(::opendir(root_.c_str()));
    if (!probe) return std::make_unique<FailedLister>(IoError("cannot open", root_));
    return std::make_unique<LocalLister>(root_, page_size);
  }

  Result<BatchItem> Stat(const std::string& name) const override {
    if (auto ok = CheckBatchName(name); !ok) return std::unexpected(ok.error());
    struct stat st {};
    if (::stat(Path(name).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return Fail(ErrorCode::kNotFound, "no file " + Path(name));
    }
    return BatchItem{name, st.st_size, LocalVersion(st)};
  }

  Result<BatchCopy> Fetch(const BatchItem& item) const override {
    auto now = Stat(item.name);
    if (!now) return std::unexpected(now.error());
    return BatchCopy{Path(item.name), now->version, now->size, nullptr};
  }

  Result<std::optional<std::string>> Provenance(const std::string& name) const override {
    if (auto ok = CheckBatchName(name); !ok) return std::unexpected(ok.error());
    struct stat st {};
    if (::stat(Path(name).c_str(), &st) != 0) return std::optional<std::string>{};
    std::ifstream sidecar(Path(Sidecar(name)));
    std::string made_from;
    std::getline(sidecar, made_from);
    return std::optional<std::string>(made_from);
  }

  Result<std::unique_ptr<StagedOutput>> Stage(const std::string& name) const override {
    if (auto ok = CheckBatchName(name); !ok) return std::unexpected(ok.error());
    const std::string root = root_ + "/" + std::string(kStagingDir);
    std::call_once(cleaned_, [&] { RemoveAbandonedStaging(root); });
    auto dir = MakeStagingDir(root);
    if (!dir) return std::unexpected(dir.error());
    return std::make_unique<StagedOutput>(*dir, *dir + "/" + Base(name));
  }

  Result<int64_t> Put(const std::string& name, const StagedOutput& staged, std::string_view,
                      const std::string& provenance) const override {
    if (auto ok = CheckBatchName(name); !ok) return std::unexpected(ok.error());
    std::error_code error;
    const std::string target = Path(name);
    fs::create_directories(fs::path(target).parent_path(), error);
    int64_t bytes = 0;
    if (IsDzi(name)) {
      const std::string tiles = TilesOf(target);
      fs::remove_all(tiles, error);
      fs::rename(TilesOf(staged.path()), tiles, error);
      if (error) return Fail(ErrorCode::kUnavailable, "cannot move tiles to " + tiles + ": " + error.message());
      for (const auto& entry : fs::recursive_directory_iterator(tiles, error)) {
        if (entry.is_regular_file()) bytes += static_cast<int64_t>(entry.file_size());
      }
    }
    // The output is synced before it takes the name, and the sidecar written after it: a crash
    // leaves an old or a complete output, never a half one with a current provenance.
    common::UniqueFd file(::open(staged.path().c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (!file.valid() || ::fsync(file.get()) != 0 || ::fstat(file.get(), &st) != 0 ||
        ::rename(staged.path().c_str(), target.c_str()) != 0) {
      return std::unexpected(IoError("cannot store", target));
    }
    bytes += st.st_size;
    common::UniqueFd dir(::open(fs::path(target).parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid()) return std::unexpected(IoError("cannot open the directory of", target));
    auto written = WriteFileAtomically(
        dir.get(), Base(Sidecar(name)),
        [&](int fd) { return common::WriteAll(fd, provenance + "\n"); }, "batch destination",
        "write the provenance of " + target);
    if (!written) return std::unexpected(written.error());
    return bytes;
  }

  std::string Url(const std::string& name) const override { return Path(name); }
  bool remote() const override { return false; }

 private:
  std::string Path(const std::string& name) const { return root_ + "/" + name; }
  static std::string Sidecar(const std::string& name) {
    const std::string parent = Parent(name);
    return (parent.empty() ? "" : parent + "/") + "." + Base(name) + std::string(kSidecarSuffix);
  }

  const std::string root_;
  mutable std::once_flag cleaned_;
};

// ---- S3 prefix ----------------------------------------------------------------------------

class S3Lister final : public BatchLister {
 public:
  S3Lister(const storage::S3Client& s3, const S3Location& location, const storage::FetchConfig& fetch,
           int page_size, BatchRequestCounts& requests)
      : s3_(s3), location_(location), fetch_(fetch), page_size_(page_size), requests_(requests) {}

  Result<std::vector<BatchItem>> Next() override {
    std::vector<BatchItem> page;
    // A page can hold only folder markers; keep reading until it yields items or ends.
    while (page.empty() && !done_) {
      auto listed =
          s3_.ListObjects(location_.bucket, location_.prefix, token_, page_size_, "", fetch_.Retry());
      ++requests_.list;
      if (!listed) return std::unexpected(listed.error());
      for (auto& object : listed->objects) {
        std::string name = object.key.substr(location_.prefix.size());
        if (name.empty() || name.ends_with("/")) continue;
        page.push_back({std::move(name), object.size, storage::UnquotedEtag(object.etag)});
      }
      token_ = std::move(listed->next_token);
      done_ = token_.empty();
    }
    return page;
  }

 private:
  const storage::S3Client& s3_;
  const S3Location& location_;
  const storage::FetchConfig& fetch_;
  const int page_size_;
  BatchRequestCounts& requests_;
  std::string token_;
  bool done_ = false;
};

class S3BatchStore final : public BatchStore {
 public:
  S3BatchStore(S3Location location, std::unique_ptr<storage::S3Client> s3, BatchStoreOptions options)
      : location_(std::move(location)), s3_(std::move(s3)), options_(std::move(options)) {}

  std::unique_ptr<BatchLister> List(int page_size) const override {
    return std::make_unique<S3Lister>(*s3_, location_, options_.fetch, page_size, requests_);
  }

  Result<BatchItem> Stat(const std::string& name) const override {
    ++requests_.get;
    auto info = s3_->HeadObject(location_.Object(name), options_.fetch.Retry());
    if (!info) return std::unexpected(info.error());
    return BatchItem{name, info->size, storage::UnquotedEtag(info->etag)};
  }

  Result<BatchCopy> Fetch(const BatchItem& item) const override {
    ++requests_.get;
    auto got = s3_->GetObjectToFile(location_.Object(item.name),
                                    {.dir = options_.temp_dir,
                                     .max_bytes = options_.max_bytes,
                                     .timeout = std::max(options_.fetch.timeout, std::chrono::milliseconds{600'000}),
                                     .retry = options_.fetch.Retry()});
    if (!got) return std::unexpected(got.error());
    return BatchCopy{got->file->path(), storage::UnquotedEtag(got->info.etag), got->file->size(), got->file};
  }

  Result<std::optional<std::string>> Provenance(const std::string& name) const override {
    ++requests_.get;
    auto info = s3_->HeadObject(location_.Object(name), options_.fetch.Retry());
    if (!info) {
      if (info.error().code == ErrorCode::kNotFound) return std::optional<std::string>{};
      return std::unexpected(info.error());
    }
    auto made_from = info->metadata.find(std::string(kMadeFrom));
    return std::optional<std::string>(made_from == info->metadata.end() ? "" : made_from->second);
  }

  Result<std::unique_ptr<StagedOutput>> Stage(const std::string& name) const override {
    if (auto ok = CheckBatchName(name); !ok) return std::unexpected(ok.error());
    auto dir = MakeStagingDir(options_.temp_dir + "/imgorigin-batch");
    if (!dir) return std::unexpected(dir.error());
    return std::make_unique<StagedOutput>(*dir, *dir + "/" + Base(name));
  }

  Result<int64_t> Put(const std::string& name, const StagedOutput& staged,
                      std::string_view content_type, const std::string& provenance) const override {
    if (auto ok = CheckBatchName(name); !ok) return std::unexpected(ok.error());
    int64_t bytes = 0;
    if (IsDzi(name)) {
      // Tiles first, the .dzi (with the provenance) last: a resumed run redoes a half-uploaded set.
      const std::string tiles = TilesOf(staged.path());
      std::error_code error;
      for (const auto& entry : fs::recursive_directory_iterator(tiles, error)) {
        if (!entry.is_regular_file()) continue;
        const std::string relative = fs::relative(entry.path(), tiles).generic_string();
        const std::string ext = entry.path().extension().string();
        auto format = transforms::FormatFromExtension(ext.empty() ? ext : ext.substr(1));
        auto put = Upload(TilesOf(name) + "/" + relative, entry.path(),
                          format ? transforms::FormatMimeType(*format) : "application/octet-stream", "");
        if (!put) return std::unexpected(put.error());
        bytes += *put;
      }
      if (error) return Fail(ErrorCode::kUnavailable, "cannot read tiles: " + error.message());
    }
    auto put = Upload(name, staged.path(), content_type, provenance);
    if (!put) return std::unexpected(put.error());
    return bytes + *put;
  }

  std::string Url(const std::string& name) const override { return location_.Url(name); }
  bool remote() const override { return true; }

 private:
  Result<int64_t> Upload(const std::string& name, const std::string& path,
                         std::string_view content_type, const std::string& provenance) const {
    auto options = location_.PutOptions(content_type, options_.fetch);
    options.timeout = std::max(options.timeout, std::chrono::milliseconds{600'000});
    if (!provenance.empty()) options.metadata = {{std::string(kMadeFrom), provenance}};
    auto put = s3_->UploadFile(location_.Object(name), path, options);
    if (!put) return std::unexpected(put.error());
    requests_.put += std::max(1, put->parts) + (put->parts > 0 ? 2 : 0);  // create + complete
    return put->size;
  }

  const S3Location location_;
  const std::unique_ptr<storage::S3Client> s3_;
  const BatchStoreOptions options_;
};

}  // namespace

StagedOutput::~StagedOutput() {
  std::error_code error;
  fs::remove_all(dir_, error);
}

Result<void> CheckBatchName(std::string_view name) {
  for (size_t start = 0;;) {
    const size_t slash = name.find('/', start);
    const std::string_view segment = name.substr(start, slash - start);
    if (segment.empty() || segment == "." || segment == "..") {
      return Fail(ErrorCode::kInvalidArgument, "unsafe name \"" + std::string(name) + "\"");
    }
    if (slash == std::string_view::npos) return {};
    start = slash + 1;
  }
}

Result<std::unique_ptr<BatchStore>> BatchStore::Open(std::string_view url,
                                                     const BatchStoreOptions& options, bool create) {
  if (url.starts_with("s3://")) {
    auto location = S3Location::Parse(url);
    if (!location) return std::unexpected(location.error());
    auto s3 = storage::S3Client::Create(options.s3, options.env);
    if (!s3) return std::unexpected(s3.error());
    return std::make_unique<S3BatchStore>(*std::move(location), *std::move(s3), options);
  }
  if (url.empty() || url.find("://") != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument,
                "\"" + std::string(url) + "\" is neither a directory nor s3://bucket/prefix/");
  }
  std::string root(url);
  while (root.size() > 1 && root.ends_with("/")) root.pop_back();
  std::error_code error;
  if (create) fs::create_directories(root, error);
  if (!fs::is_directory(root, error)) {
    return Fail(ErrorCode::kNotFound, "no directory " + root);
  }
  return std::make_unique<LocalBatchStore>(std::move(root));
}

}  // namespace imgorigin::ingest
