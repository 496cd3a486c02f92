#include "ingest/uploader.h"

#include <spdlog/spdlog.h>

#include "common/fd.h"
#include "storage/digest.h"
#include "transforms/format.h"

namespace imgorigin::ingest {

using common::ErrorCode;
using common::Fail;
using common::Result;

Result<void> Uploader::Config::Validate() const {
  if (max_upload_bytes <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "max_upload_bytes must be positive");
  }
  if (max_metadata_bytes == 0 || max_metadata_bytes > kMaxMetadataBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "max_metadata_bytes must be between 1 and " + std::to_string(kMaxMetadataBytes));
  }
  return {};
}

Result<CreateOutcome> Uploader::Store(const Upload& upload) {
  if (!upload.original) return Fail(ErrorCode::kInvalidArgument, "the upload holds no image");
  const int64_t size = upload.original->size();
  if (size <= 0) return Fail(ErrorCode::kInvalidArgument, "the upload is empty");
  if (size > config_.max_upload_bytes) {
    return Fail(ErrorCode::kTooLarge, "the image is " + std::to_string(size) +
                                          " bytes, over the upload limit of " +
                                          std::to_string(config_.max_upload_bytes));
  }
  if (auto valid = ValidateMetadata(upload.metadata); !valid) return std::unexpected(valid.error());
  const std::string metadata_text = SerializeMetadata(upload.metadata);
  if (metadata_text.size() > config_.max_metadata_bytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "metadata is " + std::to_string(metadata_text.size()) + " bytes; at most " +
                    std::to_string(config_.max_metadata_bytes) + " allowed");
  }

  auto checked = transforms::CheckSourceFile(upload.original->path(), limits_);
  if (!checked) return std::unexpected(checked.error());

  const common::MappedFile file(upload.original->path());
  if (!file.ok()) return Fail(ErrorCode::kInternal, "the upload could not be read back");
  const std::string sha256 = storage::Sha256Hex(file.bytes());

  std::optional<Idempotency> idempotency;
  if (!upload.idempotency_key.empty()) {
    // The same key must mean the same request: the same bytes with the same metadata.
    idempotency =
        Idempotency{upload.idempotency_key, storage::Sha256Hex(sha256 + "\n" + metadata_text)};
    if (auto valid = ValidateIdempotency(*idempotency); !valid) {
      return std::unexpected(valid.error());
    }
  }

  auto id = NewImageId();
  if (!id) return std::unexpected(id.error());
  ImageRecord record;
  record.id = *id;
  record.source_url = originals_.SourceUrl(*id);
  record.status = ImageStatus::kReady;
  record.facts = ImageFacts{std::string(transforms::FormatExtension(checked->format)),
                            checked->width, checked->height, size, sha256};
  record.metadata = upload.metadata;
  if (auto valid = ValidateNewRecord(record); !valid) return std::unexpected(valid.error());

  if (auto put =
          originals_.Put(*id, upload.original->path(), transforms::FormatMimeType(checked->format));
      !put) {
    // A failed write may have left part of an object behind (a PUT cut off mid-way).
    if (auto removed = originals_.Delete(*id); !removed) {
      spdlog::warn("upload {}: a failed write could not be cleaned up: {}", *id,
                   removed.error().message);
    }
    return std::unexpected(put.error());
  }
  auto created = records_.Create(record, idempotency);
  if (!created || !created->created) {
    // No record points at the new object: the store is down, or the key's first upload won.
    if (auto removed = originals_.Delete(*id); !removed) {
      spdlog::warn("upload {}: object without a record could not be deleted: {}", *id,
                   removed.error().message);
    }
  }
  return created;
}

Result<ImageRecord> Uploader::Delete(std::string_view id) {
  auto deleted = records_.MarkDeleted(id);
  if (!deleted) return deleted;
  // Only ids whose source this store made are its objects; another source is left alone.
  if (deleted->source_url == originals_.SourceUrl(id)) {
    if (auto removed = originals_.Delete(id); !removed) return std::unexpected(removed.error());
  }
  return deleted;
}

}  // namespace imgorigin::ingest
