// Where uploaded originals live: one object per image id, in a local directory (the embedded
// default) or under an S3 prefix. The store also says which source URL renders an original, so
// a record's source_url works in signed image URLs through the existing sources: a local store
// lies below source.local_root and answers `local:///<dir>/<id>`, an S3 store answers
// `s3://bucket/prefix/<id>`.
//
// Put() writes the object whole or not at all (a local file appears under its name only once
// complete and synced; an S3 PUT is atomic), so a record written after a successful Put() never
// points at a partial object. Delete() of a missing object succeeds: deletes are retried.
//
// Direct uploads (presigned) go through an *incoming* object beside the originals
// (`<prefix>.incoming/<id>`, `<dir>/.incoming/<id>`), never the original itself: PresignPut()
// lets a client without credentials write the incoming object of `id` (to S3 directly; a local
// store given LocalUploadUrls signs URLs that imgorigin answers itself, storing the body with
// PutIncoming(); without them it has no URL to give), FetchIncoming() brings the object back
// into a temporary file to be checked (its size bounded before a byte of it is read), and the
// checked file is then Put() as the original. A URL still valid after that can only replace the
// incoming object, which nothing renders: the original is exactly the bytes that were checked.
//
// Calls block on disk or network I/O: make them from an I/O pool thread, never an event loop.
// Implementations are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/fd.h"
#include "common/status.h"
#include "ingest/local_upload_urls.h"
#include "ingest/object_location.h"
#include "storage/fetch_config.h"
#include "storage/s3_client.h"
#include "storage/spilled_file.h"

namespace imgorigin::ingest {

class OriginalsStore {
 public:
  // Incoming objects are named <this><id> below the originals' directory or prefix.
  static constexpr std::string_view kIncoming = ".incoming/";

  virtual ~OriginalsStore() = default;

  // The source URL that renders the original stored under `id`.
  virtual std::string SourceUrl(std::string_view id) const = 0;
  // Stores the file at `path` as the original `id`, replacing nothing: `id` is new.
  virtual common::Result<void> Put(std::string_view id, const std::string& path,
                                   std::string_view content_type) = 0;
  // The whole original; kNotFound when there is none.
  virtual common::Result<std::string> Get(std::string_view id) = 0;
  virtual common::Result<bool> Exists(std::string_view id) = 0;
  virtual common::Result<void> Delete(std::string_view id) = 0;

  // A URL that PUTs the incoming object of `id` until `expires`, with `content_type` and the
  // store's encryption headers signed into it (the client must send them as returned).
  virtual common::Result<storage::S3Client::PresignedUrl> PresignPut(
      std::string_view id, std::string_view content_type, std::chrono::seconds expires) = 0;
  // The incoming object of `id` copied into a new temporary file in `temp_dir`: kNotFound when
  // there is none, kTooLarge (nothing read) when it is larger than `max_bytes`.
  virtual common::Result<std::shared_ptr<const storage::SpilledFile>> FetchIncoming(
      std::string_view id, int64_t max_bytes, const std::string& temp_dir) = 0;
  // Stores the file at `path` as the incoming object of `id` (the body of a PUT to a URL of
  // PresignPut() that imgorigin serves itself), replacing any earlier one.
  virtual common::Result<void> PutIncoming(std::string_view id, const std::string& path,
                                           std::string_view content_type) = 0;
  // Removes the incoming object of `id`; a missing one is success.
  virtual common::Result<void> DeleteIncoming(std::string_view id) = 0;
};

// Originals as files named by id in one directory, written through a temporary name, fsync and
// rename. Paths are only ever the id (ValidateId() is checked), resolved beneath the directory.
class LocalOriginalsStore final : public OriginalsStore {
 public:
  struct Config {
    std::string dir;         // created if missing; no default
    std::string url_prefix;  // e.g. "local:///uploads/": the directory as local sources see it
    // Signs PresignPut()'s URLs, to imgorigin's own PUT endpoint; null = no presigned uploads
    // (kConflict). Outlives the store.
    const LocalUploadUrls* upload_urls = nullptr;
    common::Result<void> Validate() const;
  };

  static common::Result<std::unique_ptr<LocalOriginalsStore>> Open(Config config);

  std::string SourceUrl(std::string_view id) const override;
  common::Result<void> Put(std::string_view id, const std::string& path,
                           std::string_view content_type) override;
  common::Result<std::string> Get(std::string_view id) override;
  common::Result<bool> Exists(std::string_view id) override;
  common::Result<void> Delete(std::string_view id) override;
  common::Result<storage::S3Client::PresignedUrl> PresignPut(std::string_view id,
                                                             std::string_view content_type,
                                                             std::chrono::seconds expires) override;
  common::Result<std::shared_ptr<const storage::SpilledFile>> FetchIncoming(
      std::string_view id, int64_t max_bytes, const std::string& temp_dir) override;
  common::Result<void> PutIncoming(std::string_view id, const std::string& path,
                                   std::string_view content_type) override;
  common::Result<void> DeleteIncoming(std::string_view id) override;

 private:
  // Writes `path` as `<subdir><id>` (WriteFileAtomically).
  common::Result<void> Write(std::string_view subdir, std::string_view id, const std::string& path);

  LocalOriginalsStore(Config config, common::UniqueFd dir)
      : config_(std::move(config)), dir_(std::move(dir)) {}

  const Config config_;
  const common::UniqueFd dir_;
};

// Originals as objects `<prefix><id>` in one bucket, written by S3Client::UploadFile(): one PUT,
// or a multipart upload in bounded parts for large files (aborted on failure, so no parts are
// left behind), optionally encrypted at rest by S3 (SSE-S3 "AES256", or SSE-KMS "aws:kms" with
// an optional key id). S3 failures are kUnavailable: the upload can be retried later.
class S3OriginalsStore final : public OriginalsStore {
 public:
  using Config = S3Location;

  // "s3://bucket/prefix/" → bucket and prefix (a prefix gets its trailing "/").
  static common::Result<Config> ParseLocation(std::string_view url) {
    return S3Location::Parse(url);
  }

  S3OriginalsStore(Config config, std::unique_ptr<storage::S3Client> s3, storage::FetchConfig fetch)
      : config_(std::move(config)), s3_(std::move(s3)), fetch_(std::move(fetch)) {}

  std::string SourceUrl(std::string_view id) const override;
  common::Result<void> Put(std::string_view id, const std::string& path,
                           std::string_view content_type) override;
  common::Result<std::string> Get(std::string_view id) override;
  common::Result<bool> Exists(std::string_view id) override;
  common::Result<void> Delete(std::string_view id) override;
  common::Result<storage::S3Client::PresignedUrl> PresignPut(std::string_view id,
                                                             std::string_view content_type,
                                                             std::chrono::seconds expires) override;
  common::Result<std::shared_ptr<const storage::SpilledFile>> FetchIncoming(
      std::string_view id, int64_t max_bytes, const std::string& temp_dir) override;
  common::Result<void> PutIncoming(std::string_view id, const std::string& path,
                                   std::string_view content_type) override;
  common::Result<void> DeleteIncoming(std::string_view id) override;

 private:
  storage::S3Client::Object Object(std::string_view id) const { return config_.Object(id); }
  storage::S3Client::Object IncomingObject(std::string_view id) const {
    return config_.Object(std::string(kIncoming) + std::string(id));
  }
  // UploadFile() / DeleteObject() with the store's encryption, timeouts and retries; failures
  // are kUnavailable. `what` names the object in the error ("an original", "an upload").
  common::Result<void> Upload(const storage::S3Client::Object& object, const std::string& path,
                              std::string_view content_type);
  common::Result<void> Remove(const storage::S3Client::Object& object, std::string_view what);

  const Config config_;
  const std::unique_ptr<storage::S3Client> s3_;
  const storage::FetchConfig fetch_;
};

}  // namespace imgorigin::ingest
