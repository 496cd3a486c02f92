#include "ingest/uploader.h"

#include <spdlog/spdlog.h>

#include "common/fd.h"
#include "storage/digest.h"
#include "storage/sigv4.h"
#include "transforms/format.h"

namespace imgorigin::ingest {

using common::ErrorCode;
using common::Fail;
using common::Result;

namespace {

// The Content-Type an original is stored with: its checked format's.
std::string_view MimeType(const ImageFacts& facts) {
  return transforms::FormatMimeType(
      transforms::FormatFromExtension(facts.format).value_or(transforms::ImageFormat::kUnknown));
}

}  // namespace

Result<void> Uploader::Config::Validate() const {
  if (max_upload_bytes <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "max_upload_bytes must be positive");
  }
  if (max_metadata_bytes == 0 || max_metadata_bytes > kMaxMetadataBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "max_metadata_bytes must be between 1 and " + std::to_string(kMaxMetadataBytes));
  }
  if (presign_max_expiry < storage::kMinPresignExpiry ||
      presign_max_expiry > storage::kMaxPresignExpiry) {
    return Fail(ErrorCode::kInvalidArgument,
                "presign_max_expiry must be between 1 second and 7 days");
  }
  if (presign_expiry < storage::kMinPresignExpiry || presign_expiry > presign_max_expiry) {
    return Fail(ErrorCode::kInvalidArgument,
                "presign_expiry must be between 1 second and presign_max_expiry");
  }
  return {};
}

Result<std::string> Uploader::CheckMetadata(const nlohmann::json& metadata) const {
  if (auto valid = ValidateMetadata(metadata); !valid) return std::unexpected(valid.error());
  std::string text = SerializeMetadata(metadata);
  if (text.size() > config_.max_metadata_bytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "metadata is " + std::to_string(text.size()) + " bytes; at most " +
                    std::to_string(config_.max_metadata_bytes) + " allowed");
  }
  return text;
}

Result<ImageFacts> Uploader::Inspect(const storage::SpilledFile& original) const {
  const int64_t size = original.size();
  if (size <= 0) return Fail(ErrorCode::kInvalidArgument, "the upload is empty");
  if (size > config_.max_upload_bytes) {
    return Fail(ErrorCode::kTooLarge, "the image is " + std::to_string(size) +
                                          " bytes, over the upload limit of " +
                                          std::to_string(config_.max_upload_bytes));
  }
  auto checked = transforms::CheckSourceFile(original.path(), limits_);
  if (!checked) return std::unexpected(checked.error());
  const common::MappedFile file(original.path());
  if (!file.ok()) return Fail(ErrorCode::kInternal, "the upload could not be read back");
  return ImageFacts{std::string(transforms::FormatExtension(checked->format)), checked->width,
                    checked->height, size, storage::Sha256Hex(file.bytes())};
}

Result<CreateOutcome> Uploader::Store(const Upload& upload) {
  if (!upload.original) return Fail(ErrorCode::kInvalidArgument, "the upload holds no image");
  auto metadata_text = CheckMetadata(upload.metadata);
  if (!metadata_text) return std::unexpected(metadata_text.error());
  auto facts = Inspect(*upload.original);
  if (!facts) return std::unexpected(facts.error());

  std::optional<Idempotency> idempotency;
  if (!upload.idempotency_key.empty()) {
    // The same key must mean the same request: the same bytes with the same metadata.
    idempotency = Idempotency{upload.idempotency_key,
                              storage::Sha256Hex(facts->sha256 + "\n" + *metadata_text)};
    if (auto valid = ValidateIdempotency(*idempotency); !valid) {
      return std::unexpected(valid.error());
    }
  }

  auto id = NewImageId();
  if (!id) return std::unexpected(id.error());
  ImageRecord record;
  record.id = *id;
  record.source_url = originals_.SourceUrl(*id);
  // With eager presets the image is ready once they are made (its job marks it).
  record.status = Eager() ? ImageStatus::kPending : ImageStatus::kReady;
  record.facts = *facts;
  record.metadata = upload.metadata;
  if (auto valid = ValidateNewRecord(record); !valid) return std::unexpected(valid.error());

  if (auto put = originals_.Put(*id, upload.original->path(), MimeType(*facts)); !put) {
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
  } else if (Eager()) {
    Arrive(created->record);
  }
  return created;
}

void Uploader::Arrive(const ImageRecord& record) const {
  // A queue that is down does not fail the upload, which is stored: the reconciler queues the
  // job once the queue answers again.
  if (auto queued = arrivals_->Arrived(record); !queued) {
    spdlog::warn("image {}: its eager job could not be queued yet: {}", record.id,
                 queued.error().message);
  }
}

Result<ImageRecord> Uploader::Delete(std::string_view id) {
  auto deleted = records_.MarkDeleted(id);
  if (!deleted) return deleted;
  // Only ids whose source this store made are its objects; another source is left alone. A
  // direct upload deleted before it was completed may have left an incoming object.
  if (deleted->source_url == originals_.SourceUrl(id)) {
    if (auto removed = originals_.Delete(id); !removed) return std::unexpected(removed.error());
    if (auto removed = originals_.DeleteIncoming(id); !removed) {
      return std::unexpected(removed.error());
    }
  }
  if (arrivals_ != nullptr) arrivals_->Gone(*deleted);
  return deleted;
}

Result<Uploader::DirectUploadGrant> Uploader::BeginDirect(const DirectUpload& upload) {
  if (auto metadata = CheckMetadata(upload.metadata); !metadata) {
    return std::unexpected(metadata.error());
  }
  const std::chrono::seconds expires = upload.expires.value_or(config_.presign_expiry);
  if (expires < storage::kMinPresignExpiry || expires > config_.presign_max_expiry) {
    return Fail(ErrorCode::kInvalidArgument,
                "expires_in must be between 1 and " +
                    std::to_string(config_.presign_max_expiry.count()) + " seconds");
  }
  auto id = NewImageId();
  if (!id) return std::unexpected(id.error());
  // Signed before the record is made: a store that cannot presign leaves nothing behind.
  auto url = originals_.PresignPut(*id, upload.content_type, expires);
  if (!url) return std::unexpected(url.error());
  ImageRecord record;
  record.id = *id;
  record.source_url = originals_.SourceUrl(*id);
  record.status = ImageStatus::kPending;
  record.metadata = upload.metadata;
  if (auto valid = ValidateNewRecord(record); !valid) return std::unexpected(valid.error());
  auto created = records_.Create(record, std::nullopt);
  if (!created) return std::unexpected(created.error());
  return DirectUploadGrant{std::move(created->record), *std::move(url)};
}

Result<Uploader::Completion> Uploader::Complete(std::string_view id, const std::string& temp_dir) {
  auto record = records_.Get(id);
  if (!record) return std::unexpected(record.error());
  // Completed already: ready, or checked and waiting for its eager presets.
  if (record->status == ImageStatus::kReady ||
      (record->status == ImageStatus::kPending && record->facts.known())) {
    return Completion{*std::move(record), false};
  }
  switch (record->status) {
    case ImageStatus::kReady:
      break;
    case ImageStatus::kDeleted:
      return Fail(ErrorCode::kNotFound, "image " + std::string(id) + " was deleted");
    case ImageStatus::kPending:
    case ImageStatus::kFailed:  // the URL may still be good for another try
      break;
  }
  // Only this store's object for this id: a record with another source (an S3 event's, say)
  // is not the client's to complete.
  if (record->source_url != originals_.SourceUrl(id)) {
    return Fail(ErrorCode::kConflict, "image " + std::string(id) + " is not a direct upload");
  }
  const auto refuse = [&](const common::Error& error) -> Result<Completion> {
    // The record first: if the store is down the object stays for a retry to judge again.
    auto failed = records_.MarkFailed(id, error.message);
    if (!failed) return std::unexpected(failed.error());
    if (auto removed = originals_.DeleteIncoming(id); !removed) {
      spdlog::warn("direct upload {}: refused object could not be deleted: {}", id,
                   removed.error().message);
    }
    spdlog::info("direct upload {} refused: {}", id, error.message);
    return std::unexpected(error);
  };
  auto file = originals_.FetchIncoming(id, config_.max_upload_bytes, temp_dir);
  if (!file) {
    if (file.error().code == ErrorCode::kNotFound) {
      if (record->status == ImageStatus::kFailed) {
        return Fail(ErrorCode::kConflict, "image " + std::string(id) + " failed (" +
                                              record->last_error +
                                              "); PUT another image to its upload_url first");
      }
      return Fail(ErrorCode::kConflict, "nothing was uploaded for image " + std::string(id) +
                                            " yet: PUT the image to its upload_url first");
    }
    if (file.error().code == ErrorCode::kTooLarge) return refuse(file.error());
    return std::unexpected(file.error());
  }
  auto facts = Inspect(**file);
  if (!facts) {
    switch (facts.error().code) {
      case ErrorCode::kTooLarge:
      case ErrorCode::kUnsupported:
      case ErrorCode::kInvalidImage:
      case ErrorCode::kInvalidArgument:
      case ErrorCode::kDeadlineExceeded:
        return refuse(facts.error());
      default:
        return std::unexpected(facts.error());
    }
  }
  // Object before record, as for uploads; a retry after a failure in between writes the same
  // original again.
  if (auto put = originals_.Put(id, (*file)->path(), MimeType(*facts)); !put) {
    return std::unexpected(put.error());
  }
  auto ready = Eager() ? records_.MarkChecked(id, *facts) : records_.MarkReady(id, *facts);
  if (!ready) return std::unexpected(ready.error());
  if (Eager()) Arrive(*ready);
  if (auto removed = originals_.DeleteIncoming(id); !removed) {
    spdlog::warn("direct upload {}: incoming object could not be deleted: {}", id,
                 removed.error().message);
  }
  return Completion{*std::move(ready), true};
}

}  // namespace imgorigin::ingest
