// The image record: what imgorigin knows about one original it took in (an upload, a completed
// presigned upload, an S3 event), kept in a RecordStore (record_store.h).
//
// A record is a value. Its id is a UUID (NewImageId() makes version 7 ones, whose order is their
// creation order to the millisecond, so listing by id lists oldest first); its source URL names
// the original in the originals store (`local:///<id>`, `s3://bucket/prefix/<id>`) and works in
// signed URLs as is.
// The facts (format, dimensions, bytes, SHA-256) are known once the bytes were checked: a record
// is created `ready` with them, `pending` with them (checked, but its eager variants are not made
// yet), or `pending` without them, and made ready or failed later.
// The Validate* functions hold every bound a store enforces, so both stores refuse the same
// things. Values and pure functions only: safe from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace imgorigin::ingest {

// User metadata is a JSON object of at most this many bytes once serialised compactly, nested at
// most this deep: enough for SKUs, captions and tags, small enough to return in every listing.
inline constexpr size_t kMaxMetadataBytes = 16 * 1024;
inline constexpr int kMaxMetadataDepth = 32;
// A failure reason longer than this is cut, never refused: a worker that reports a failure must
// not fail to record it.
inline constexpr size_t kMaxErrorBytes = 1024;
inline constexpr size_t kMaxSourceUrlBytes = 2048;
inline constexpr size_t kMaxVariants = 64;
inline constexpr size_t kMaxPresetNameBytes = 64;

enum class ImageStatus {
  kPending,  // the record exists, but it cannot be served yet: its bytes are not checked yet
             // (presigned upload under way), or they are (facts known) and its eager variants
             // are still to be made
  kReady,    // the original is stored and checked: it can be rendered
  kFailed,   // the bytes never arrived or were refused; last_error says why
  kDeleted,  // the image was deleted; the record stays as a tombstone
};

std::string_view StatusName(ImageStatus status);  // "pending", "ready", "failed", "deleted"
std::optional<ImageStatus> ParseStatus(std::string_view name);

using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

// What the original turned out to be once its bytes were checked.
struct ImageFacts {
  std::string format;  // the format's extension, as /info names it: "jpg", "png", "webp", …
  int width = 0;
  int height = 0;
  int64_t bytes = 0;   // size of the stored original
  std::string sha256;  // of the stored original, lowercase hex

  bool known() const { return !format.empty(); }
  bool operator==(const ImageFacts&) const = default;
};

// A rendered variant kept as a plain object in the variants store.
struct Variant {
  std::string preset;  // the preset name it was rendered with ("small")
  std::string format;
  int width = 0;
  int height = 0;
  int64_t bytes = 0;
  std::string location;  // where the object is, e.g. s3://bucket/variants/<id>/small.webp

  bool operator==(const Variant&) const = default;
};

struct ImageRecord {
  std::string id;          // canonical lowercase UUID
  std::string source_url;  // local:///<id>, s3://bucket/prefix/<id>
  ImageStatus status = ImageStatus::kPending;
  ImageFacts facts;  // known() once the record was ready at least once
  nlohmann::json metadata = nlohmann::json::object();
  std::vector<Variant> variants;
  std::string last_error;  // empty unless the last attempt failed
  Timestamp created{};     // set by the store
  Timestamp updated{};     // set by the store on every change

  bool operator==(const ImageRecord&) const = default;
};

// Whether the record's original can be rendered: its bytes were checked (facts known) and it
// is not deleted. A pending record with facts (its eager presets are being made) renders, as
// does a failed one whose failure came after the check (its eager job was dead-lettered).
inline bool Renderable(const ImageRecord& record) {
  return record.facts.known() && record.status != ImageStatus::kDeleted;
}

// A new version 7 UUID: 48 bits of Unix milliseconds, then 74 random bits from OpenSSL.
common::Result<std::string> NewImageId();

// kInvalidArgument unless `id` is a UUID in canonical lowercase form (8-4-4-4-12 hex digits).
common::Result<void> ValidateId(std::string_view id);
common::Result<void> ValidateMetadata(const nlohmann::json& metadata);
common::Result<void> ValidateFacts(const ImageFacts& facts);
common::Result<void> ValidateVariants(const std::vector<Variant>& variants);
// 1..kMaxSourceUrlBytes bytes of clean text (IsCleanText).
common::Result<void> ValidateSourceUrl(std::string_view source_url);
// A record as Create() takes it: `pending` without facts or with valid ones, or `ready` with valid
// ones; no last error.
common::Result<void> ValidateNewRecord(const ImageRecord& record);

// Parses user metadata sent with an upload and checks it as ValidateMetadata does.
common::Result<nlohmann::json> ParseMetadata(std::string_view text);

// `error` as a record keeps it: at most kMaxErrorBytes of UTF-8 without control characters (each
// bad byte becomes '?', each control character a space), so any text a library produced can be
// stored by either store. The job queue keeps its errors the same way under its own bound.
std::string CleanError(std::string_view error, size_t max_bytes = kMaxErrorBytes);

// Well-formed UTF-8 (no overlong forms, no surrogates) without control characters: what both
// stores keep as text byte for byte, and what an S3 key must be to become a source URL.
bool IsCleanText(std::string_view text);

// RFC 3339 UTC with milliseconds: "2024-05-01T12:00:00.123Z".
std::string Rfc3339(Timestamp t);

// The API's view of a record: facts not known yet are null, times are RFC 3339 UTC with
// milliseconds ("2024-05-01T12:00:00.123Z").
nlohmann::json ToJson(const ImageRecord& record);
nlohmann::json ToJson(const Variant& variant);

// The stores keep metadata and variants as compact JSON text; these read it back. Text that does
// not parse is kInternal: the store was written by something else.
std::string SerializeMetadata(const nlohmann::json& metadata);
std::string SerializeVariants(const std::vector<Variant>& variants);
common::Result<nlohmann::json> ParseStoredMetadata(std::string_view text);
common::Result<std::vector<Variant>> ParseStoredVariants(std::string_view text);

}  // namespace imgorigin::ingest
