#include "ingest/record_store.h"

#include <limits>

#include "ingest/stored_record.h"

namespace imgorigin::ingest {
namespace {

using common::ErrorCode;
using common::Fail;

}  // namespace

common::Result<void> ValidateIdempotency(const Idempotency& idempotency) {
  const std::string& key = idempotency.key;
  bool printable = !key.empty() && key.size() <= kMaxIdempotencyKeyBytes;
  for (unsigned char c : key) printable = printable && c >= 0x20 && c < 0x7f;
  if (!printable) {
    return Fail(ErrorCode::kInvalidArgument, "Idempotency-Key must be 1 to " +
                                                 std::to_string(kMaxIdempotencyKeyBytes) +
                                                 " printable ASCII characters");
  }
  const std::string& fingerprint = idempotency.fingerprint;
  bool ascii = !fingerprint.empty() && fingerprint.size() <= kMaxFingerprintBytes;
  for (unsigned char c : fingerprint) ascii = ascii && c > 0x20 && c < 0x7f;
  if (!ascii) {
    // The upload flow computes the fingerprint: a bad one is a bug, not the client's fault.
    return Fail(ErrorCode::kInternal, "request fingerprint must be 1 to " +
                                          std::to_string(kMaxFingerprintBytes) +
                                          " printable ASCII characters");
  }
  return {};
}

common::Result<void> ValidateListArgs(std::string_view after_id, int limit) {
  if (limit < 1 || limit > kMaxListLimit) {
    return Fail(ErrorCode::kInvalidArgument,
                "limit must be between 1 and " + std::to_string(kMaxListLimit));
  }
  if (!after_id.empty() && !ValidateId(after_id)) {
    return Fail(ErrorCode::kInvalidArgument, "after must be an image id");
  }
  return {};
}

common::Result<ImageRecord> FromStoredColumns(const StoredColumns& row) {
  auto bad = [](std::string_view what) {
    return Fail(ErrorCode::kInternal, "record store holds a malformed " + std::string(what));
  };
  constexpr int64_t kIntMax = std::numeric_limits<int>::max();
  ImageRecord record;
  record.id = row.id;
  record.source_url = row.source_url;
  auto status = ParseStatus(row.status);
  if (!status) return bad("status");
  record.status = *status;
  if (row.width < 0 || row.width > kIntMax || row.height < 0 || row.height > kIntMax ||
      row.bytes < 0) {
    return bad("image size");
  }
  record.facts = ImageFacts{std::string(row.format), static_cast<int>(row.width),
                            static_cast<int>(row.height), row.bytes, std::string(row.sha256)};
  auto metadata = ParseStoredMetadata(row.metadata);
  if (!metadata) return std::unexpected(metadata.error());
  record.metadata = std::move(*metadata);
  auto variants = ParseStoredVariants(row.variants);
  if (!variants) return std::unexpected(variants.error());
  record.variants = std::move(*variants);
  record.last_error = row.last_error;
  record.created = Timestamp(std::chrono::milliseconds(row.created_ms));
  record.updated = Timestamp(std::chrono::milliseconds(row.updated_ms));
  return record;
}

}  // namespace imgorigin::ingest
