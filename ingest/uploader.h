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
// Blocking (libvips, disk, network, the record store): call from an I/O pool thread. The stores
// it is given outlive it. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
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
    common::Result<void> Validate() const;
  };

  struct Upload {
    std::shared_ptr<const storage::SpilledFile> original;  // the bytes as they arrived
    nlohmann::json metadata = nlohmann::json::object();
    std::string idempotency_key;  // "" = none
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

  const Config& config() const { return config_; }

 private:
  const Config config_;
  const transforms::PipelineLimits& limits_;
  OriginalsStore& originals_;
  RecordStore& records_;
};

}  // namespace imgorigin::ingest
