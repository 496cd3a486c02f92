// Where image records live: one interface, two stores. SqliteRecordStore is the embedded default
// (one file under the data directory); PostgresRecordStore serves a fleet of origin nodes.
//
// The store owns the records' timestamps and their status transitions:
//
//   Create ──► pending ──MarkReady──► ready ◄──MarkReady (checked again)
//      │          │                     │
//      │          └──MarkFailed──► failed ──MarkReady──► ready
//      └────────────────────────────────► ready (an upload checked before it is recorded)
//   MarkChecked: pending or failed ──► pending with facts (the bytes are checked, the eager
//   variants are still to make); Create may make such a record too. MarkReady ends it.
//   MarkDeleted: any status ──► deleted (a tombstone; nothing leaves it)
//
// MarkFailed and MarkChecked do not apply to a ready record, so a late report (a second
// /complete that lost a race) cannot overwrite a success. Every call returns the record as stored
// after it.
//
// Idempotency: Create() may carry the upload's Idempotency-Key and a fingerprint of the request
// (a hash over its body and metadata). The key is stored with the record, unique across the
// store, in the same statement that inserts it: a retry with the same key and fingerprint gets
// the first record back (created = false, whatever its status now, tombstones included) and
// inserts nothing; the same key with another fingerprint is kConflict. The upload flow writes
// the original under a fresh id before it calls Create(), so on a retry it deletes that copy.
//
// Errors: kInvalidArgument (a bound in record.h broken, a malformed id or cursor), kNotFound,
// kConflict (duplicate id, key reused for another request, a transition the diagram forbids),
// kUnavailable (the database cannot be reached, is locked or did not answer in time: retry
// later, the origin answers 503), kInternal (anything else).
//
// Threads: every member may be called from any number of threads at once. Calls block on disk or
// network I/O (each bounded by the store's timeouts), so the origin calls them from its I/O pool,
// never from an event loop.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "ingest/record.h"

namespace imgorigin::ingest {

inline constexpr size_t kMaxIdempotencyKeyBytes = 255;
inline constexpr size_t kMaxFingerprintBytes = 128;
inline constexpr int kMaxListLimit = 1000;

struct Idempotency {
  std::string key;          // the client's Idempotency-Key: 1..255 printable ASCII characters
  std::string fingerprint;  // 1..128 printable ASCII characters (a hex digest), compared as is
};

struct CreateOutcome {
  ImageRecord record;  // as stored: the new record, or the first one made with the same key
  bool created = false;
};

// One page of a listing, oldest id first.
struct Page {
  std::vector<ImageRecord> records;
  std::string next_after;  // the cursor of the next page; empty when this page is the last
};

class RecordStore {
 public:
  virtual ~RecordStore() = default;

  // Inserts a record that ValidateNewRecord() accepts; created and updated are set to now.
  virtual common::Result<CreateOutcome> Create(const ImageRecord& record,
                                               const std::optional<Idempotency>& idempotency) = 0;

  // Deleted records are returned too (status kDeleted): the API tells a deleted image from one
  // that never existed.
  virtual common::Result<ImageRecord> Get(std::string_view id) = 0;

  // Keyset pagination ordered by id, which for NewImageId() ids is creation order to the
  // millisecond: the records with id > after_id ("" = from the start), at most `limit`
  // (1..kMaxListLimit) of them. Tombstones are skipped. A record created while a client pages
  // through appears if its id sorts after the cursor; no record is ever listed twice.
  virtual common::Result<Page> List(std::string_view after_id, int limit) = 0;

  // The newest record (highest id) that is not deleted with exactly this source URL; kNotFound
  // when there is none. How an S3 event finds the record its object belongs to.
  virtual common::Result<ImageRecord> FindBySource(std::string_view source_url) = 0;

  // The pending records last changed before `updated_before` (ones a worker should have finished
  // by then), paged like List(): id > after_id, oldest id first, at most `limit` of them.
  virtual common::Result<Page> ListPending(std::string_view after_id, Timestamp updated_before,
                                           int limit) = 0;

  // pending, failed or ready → ready with these facts; clears last_error.
  virtual common::Result<ImageRecord> MarkReady(std::string_view id, const ImageFacts& facts) = 0;
  // pending or failed → pending with these facts; clears last_error: the bytes are checked, the
  // eager variants are still to make. A ready or deleted record is kConflict (unchanged).
  virtual common::Result<ImageRecord> MarkChecked(std::string_view id, const ImageFacts& facts) = 0;
  // pending or failed → failed; `error` is kept as CleanError() makes it.
  virtual common::Result<ImageRecord> MarkFailed(std::string_view id, std::string_view error) = 0;
  // Replaces the variant list of a record that is not deleted.
  virtual common::Result<ImageRecord> SetVariants(std::string_view id,
                                                  const std::vector<Variant>& variants) = 0;
  // Any status → deleted; deleting a tombstone again returns it unchanged.
  virtual common::Result<ImageRecord> MarkDeleted(std::string_view id) = 0;
};

// Checks shared by both stores before they touch the database.
common::Result<void> ValidateIdempotency(const Idempotency& idempotency);
common::Result<void> ValidateListArgs(std::string_view after_id, int limit);

}  // namespace imgorigin::ingest
