// Where `imgorigin batch` reads originals and writes results: a local directory tree or an S3
// prefix ("s3://bucket/prefix/"), behind one interface.
//
// - List() walks the source page by page (readdir one directory at a time; ListObjectsV2 with
//   its continuation token), so a bucket of ten million keys costs no more memory than one of ten.
//   Hidden names (".x") and S3 "folder" markers ("a/") are not items.
// - Fetch() makes an item a local file for the decoder: a local item is read where it is; an S3
//   object is streamed to a temporary file (never held in memory), unlinked with its last
//   reference.
// - Outputs are staged (a directory of their own: a DeepZoom set is a .dzi beside a "_files"
//   tree), then Put() whole: a local output is renamed into place, an S3 one uploaded (multipart
//   past 16 MiB). Each output carries its provenance, what it was made from: S3 user metadata
//   ("imgorigin-made-from"), locally a sidecar ".<name>.imgorigin" written after the output, so a
//   killed run leaves at worst an output without provenance, which --resume makes again.
// - Names are relative ("2024/a.jpg"); one with an empty, "." or ".." segment is refused, so no
//   S3 key can make a local output land outside its directory.
//
// Every call blocks on disk or network; the store is thread-safe. Requests and bytes are counted
// for the run's cost line.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "storage/fetch_config.h"
#include "storage/s3_client.h"
#include "storage/spilled_file.h"

namespace imgorigin::ingest {

struct BatchItem {
  std::string name;     // relative to the root, "/"-separated
  int64_t size = 0;
  std::string version;  // changes with the object: the S3 ETag (unquoted), local "<mtime ns>-<size>"
};

// An item readable as a local file.
struct BatchCopy {
  std::string path;
  std::string version;  // of the bytes at `path` (the GET's ETag, or the file's stat)
  int64_t size = 0;
  std::shared_ptr<const storage::SpilledFile> temp;  // set when downloaded
};

// Requests made, for the cost line (S3 prices requests by class).
struct BatchRequestCounts {
  std::atomic<int64_t> get{0};   // GET and HEAD
  std::atomic<int64_t> put{0};   // PUT, multipart parts included
  std::atomic<int64_t> list{0};  // ListObjectsV2 pages
};

class BatchLister {
 public:
  virtual ~BatchLister() = default;
  // The next page; an empty page when the listing is over.
  virtual common::Result<std::vector<BatchItem>> Next() = 0;
};

// A staged output: a directory of its own holding `path`; removed with everything in it on
// destruction (after Put() it holds nothing).
class StagedOutput {
 public:
  StagedOutput(std::string dir, std::string path) : dir_(std::move(dir)), path_(std::move(path)) {}
  ~StagedOutput();
  StagedOutput(const StagedOutput&) = delete;
  StagedOutput& operator=(const StagedOutput&) = delete;
  const std::string& dir() const { return dir_; }
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

struct BatchStoreOptions {
  std::string temp_dir = "/tmp";                    // S3 downloads and staged S3 outputs
  int64_t max_bytes = int64_t{64} << 30;            // largest original fetched
  storage::FetchConfig fetch;                       // timeouts and retries of S3 requests
  storage::S3Client::Config s3;                     // region, endpoint, path style
  storage::EnvLookup env;                           // AWS_* variables
};

class BatchStore {
 public:
  virtual ~BatchStore() = default;

  // "s3://bucket/prefix/" or a local directory (created when `create` and missing).
  static common::Result<std::unique_ptr<BatchStore>> Open(std::string_view url,
                                                          const BatchStoreOptions& options,
                                                          bool create);

  virtual std::unique_ptr<BatchLister> List(int page_size) const = 0;
  // The item `name` as a listing would give it; kNotFound when it is gone.
  virtual common::Result<BatchItem> Stat(const std::string& name) const = 0;
  virtual common::Result<BatchCopy> Fetch(const BatchItem& item) const = 0;
  // The provenance output `name` carries; nullopt when there is no such output, "" when it has
  // none.
  virtual common::Result<std::optional<std::string>> Provenance(const std::string& name) const = 0;
  // A new staging directory for output `name`.
  virtual common::Result<std::unique_ptr<StagedOutput>> Stage(const std::string& name) const = 0;
  // Stores what `staged` holds as output `name` (a .dzi with its "_files" tree), replacing any;
  // answers the bytes stored.
  virtual common::Result<int64_t> Put(const std::string& name, const StagedOutput& staged,
                                      std::string_view content_type,
                                      const std::string& provenance) const = 0;
  // For messages: the path or s3:// URL of `name`.
  virtual std::string Url(const std::string& name) const = 0;

  const BatchRequestCounts& requests() const { return requests_; }
  // True for S3, whose requests are billed.
  virtual bool remote() const = 0;

 protected:
  mutable BatchRequestCounts requests_;
};

// OK for relative names of non-empty segments other than "." and "..".
common::Result<void> CheckBatchName(std::string_view name);

}  // namespace imgorigin::ingest
