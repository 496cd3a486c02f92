// The variants store: eager presets' renders kept as plain objects, `{prefix}/{id}/{preset}.{ext}`
// (the layout of seeds 002/003), in a local directory or under an S3 prefix, so that they can be
// served or copied without imgorigin.
//
// Put() replaces the object whole or not at all: a local file is written under a temporary name of
// its own, synced and renamed (so a reader never sees half a file, and two workers writing the
// same variant at once leave one of their files, both complete); an S3 PUT is atomic. Writing the
// same variant again overwrites it, so a retried job leaves the same objects. Ids must be image
// ids (ValidateId), presets plain names (letters, digits, "-", "_", "."; not starting with "."),
// so nothing lands outside the store.
//
// Calls block on disk or network I/O: make them from a worker or I/O thread, never an event loop.
// Implementations are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/fd.h"
#include "common/status.h"
#include "ingest/object_location.h"
#include "storage/fetch_config.h"
#include "storage/s3_client.h"

namespace imgorigin::ingest {

class VariantsStore {
 public:
  virtual ~VariantsStore() = default;
  // Stores `bytes` as variant `preset`.`ext` of image `id` with `content_type`, replacing any
  // earlier one; answers its location (ingest::Variant::location): the file's path, or
  // s3://bucket/key. Errors: kInvalidArgument for a bad id or name, kUnavailable for the store.
  virtual common::Result<std::string> Put(std::string_view id, std::string_view preset,
                                          std::string_view ext, std::string_view bytes,
                                          std::string_view content_type) = 0;
  // Deletes variant `preset`.`ext` of image `id`; one that is not there is no error.
  virtual common::Result<void> Remove(std::string_view id, std::string_view preset,
                                      std::string_view ext) = 0;
};

// Variants as files `<dir>/<id>/<preset>.<ext>`.
class LocalVariantsStore final : public VariantsStore {
 public:
  // Creates `dir` if missing.
  static common::Result<std::unique_ptr<LocalVariantsStore>> Open(std::string dir);

  common::Result<std::string> Put(std::string_view id, std::string_view preset,
                                  std::string_view ext, std::string_view bytes,
                                  std::string_view content_type) override;
  common::Result<void> Remove(std::string_view id, std::string_view preset,
                              std::string_view ext) override;

 private:
  LocalVariantsStore(std::string dir, common::UniqueFd fd)
      : dir_(std::move(dir)), fd_(std::move(fd)) {}

  const std::string dir_;  // as configured, for locations
  const common::UniqueFd fd_;
};

// Variants as objects `<prefix><id>/<preset>.<ext>` in one bucket, with the location's
// server-side encryption and the fetch settings' timeout and retries.
class S3VariantsStore final : public VariantsStore {
 public:
  S3VariantsStore(S3Location location, std::unique_ptr<storage::S3Client> s3,
                  storage::FetchConfig fetch)
      : location_(std::move(location)), s3_(std::move(s3)), fetch_(std::move(fetch)) {}

  common::Result<std::string> Put(std::string_view id, std::string_view preset,
                                  std::string_view ext, std::string_view bytes,
                                  std::string_view content_type) override;
  common::Result<void> Remove(std::string_view id, std::string_view preset,
                              std::string_view ext) override;

 private:
  const S3Location location_;
  const std::unique_ptr<storage::S3Client> s3_;
  const storage::FetchConfig fetch_;
};

// kInvalidArgument unless `preset` and `ext` make a safe file name (see above).
common::Result<void> ValidateVariantName(std::string_view preset, std::string_view ext);

}  // namespace imgorigin::ingest
