// The upload flow: an original that arrived in a temporary file becomes an image (an object in
// the originals store plus a ready record), or is refused with nothing left behind.
//
//   check the file as renders will (format, pixels, a full decode: transforms::CheckSourceFile)
//   → size and SHA-256 → Put() the object under a new id → Create() the record
//
// Object first, then record: a record never points at nothing. When Create() fails (the record
// store is down, the idempotency key belongs to another request) the object is deleted again;
// when it finds the key's first record (a retried upload), the new object is deleted and the
// first record returned. Delete() tombstones the record first, then deletes the object, so a
// failure in between leaves an orphan object rather than a record without one.
//
// Direct uploads go around imgorigin's API calls: BeginDirect() creates a `pending` record whose
// source is the originals store's object for a new id, and a presigned PUT URL for that id's
// *incoming* object (to S3, or to imgorigin itself for local originals; see originals_store.h).
// The client PUTs the image there, then
// Complete() checks the incoming object as Store() checks an upload (its size from the store
// before anything is read, then the whole object fetched into a temporary file, at most
// max_upload_bytes, for the same checks and SHA-256), Put()s the checked file as the original and
// makes the record `ready`. A refused object is deleted and its record made `failed` with the
// reason. A missing object leaves the record as it was (the client may still PUT while its URL
// lasts); completing a ready record again returns it unchanged. The original is written by
// imgorigin from the checked file, so a later PUT through a URL that is still valid cannot
// change what the record describes.
//
// Blocking (libvips, disk, network, the record store): call from an I/O pool thread. The stores
// it is given outlive it. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "ingest/arrivals.h"
#include "ingest/originals_store.h"
#include "ingest/record_store.h"
#include "storage/spilled_file.h"
#include "transforms/pipeline.h"

namespace imgorigin::ingest {

class Uploader {
 public:
  struct Config {
    // Larger originals are refused (kTooLarge): raw, multipart and base64 bodies alike.
    int64_t max_upload_bytes = 50ll << 20;
    // User metadata larger than this as compact JSON is refused; at most kMaxMetadataBytes.
    size_t max_metadata_bytes = kMaxMetadataBytes;
    // How long a presigned upload URL lasts unless the client asks for less or more; the client
    // may ask for at most presign_max_expiry (S3 accepts up to 7 days).
    std::chrono::seconds presign_expiry{900};
    std::chrono::seconds presign_max_expiry{3600};
    common::Result<void> Validate() const;
  };

  struct Upload {
    std::shared_ptr<const storage::SpilledFile> original;  // the bytes as they arrived
    nlohmann::json metadata = nlohmann::json::object();
    std::string idempotency_key;  // "" = none
  };

  struct DirectUpload {
    std::string content_type;  // the image's MIME type, signed into the URL
    nlohmann::json metadata = nlohmann::json::object();
    std::optional<std::chrono::seconds> expires;  // nullopt = Config::presign_expiry
  };

  struct DirectUploadGrant {
    ImageRecord record;  // pending
    storage::S3Client::PresignedUrl url;
  };

  struct Completion {
    ImageRecord record;      // ready
    bool completed = false;  // false: it was ready already
  };

  Uploader(Config config, const transforms::PipelineLimits& limits, OriginalsStore& originals,
           RecordStore& records)
      : config_(config), limits_(limits), originals_(originals), records_(records) {}

  // kTooLarge, kUnsupported, kInvalidImage, kDeadlineExceeded: the bytes were refused.
  // kInvalidArgument: metadata or idempotency key. kConflict: the key was used for another
  // request. kUnavailable: a store is down (nothing was kept).
  common::Result<CreateOutcome> Store(const Upload& upload);

  // The record as a tombstone; kNotFound for an id that never existed.
  common::Result<ImageRecord> Delete(std::string_view id);

  // kInvalidArgument: metadata, or an expiry out of bounds. kConflict: the originals store
  // cannot presign (local originals without LocalUploadUrls). kUnavailable: a store is down (no
  // record was made). content_type is not judged here: the caller keeps it to image types this
  // build reads.
  common::Result<DirectUploadGrant> BeginDirect(const DirectUpload& upload);

  // kNotFound: no such image (or deleted). kConflict: nothing was uploaded yet (the record stays
  // pending), or the image was not a direct upload of this store. kTooLarge, kUnsupported,
  // kInvalidImage, kDeadlineExceeded, kInvalidArgument (empty): the object was refused, deleted,
  // and the record is failed. kUnavailable: a store is down (nothing changed; retry).
  // Temporary files go to `temp_dir`.
  common::Result<Completion> Complete(std::string_view id, const std::string& temp_dir);

  const Config& config() const { return config_; }

  // What happens after an image arrives (arrivals.h): with eager presets, uploads and completed
  // direct uploads are made pending (facts known) and their job is queued; deletions remove the
  // variants and notify. Set once, before the first call; null = none.
  void SetArrivals(Arrivals* arrivals) { arrivals_ = arrivals; }

 private:
  // The checks Store() and Complete() make of an original in a file (size, the renders'
  // checks, SHA-256); kInvalidArgument for an empty one.
  common::Result<ImageFacts> Inspect(const storage::SpilledFile& original) const;
  common::Result<std::string> CheckMetadata(const nlohmann::json& metadata) const;
  bool Eager() const { return arrivals_ != nullptr && arrivals_->eager(); }
  void Arrive(const ImageRecord& record) const;

  const Config config_;
  const transforms::PipelineLimits& limits_;
  OriginalsStore& originals_;
  RecordStore& records_;
  Arrivals* arrivals_ = nullptr;
};

}  // namespace imgorigin::ingest
