// The embedded record store: one SQLite file under the data directory, nothing to install or run.
//
// One connection, in WAL mode with synchronous=FULL (a record that Create() returned survives a
// power cut, so the rule "object first, then record" holds after a crash too), used under a
// mutex: SQLite lets one writer in at a time anyway, and a record call is one short statement.
// Statements are prepared once at Open(). Another process holding the database lock (a second
// imgorigin on the same file, a backup tool) makes calls wait up to busy_timeout for it and then
// give kUnavailable; so does a file that cannot be written. A call waits at most twice
// busy_timeout: once for this store's mutex, once for SQLite's lock.
//
// Open() applies the schema migrations this binary knows that the file has not seen, in one
// transaction, and refuses a file migrated by a newer imgorigin. Thread-safe (record_store.h).
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "ingest/record_store.h"
#include "ingest/sqlite_db.h"

namespace imgorigin::ingest {

class SqliteRecordStore final : public RecordStore {
 public:
  struct Config {
    std::string path;  // the database file, e.g. <data dir>/records.sqlite3; no default
    // Longest wait for a lock, see above. Writes by another process rarely hold it for more than
    // milliseconds; past a few seconds the caller is better told to retry.
    std::chrono::milliseconds busy_timeout{5000};
    common::Result<void> Validate() const;
  };

  // Creates the file and its directory if missing, switches to WAL and migrates. kUnavailable
  // when the file cannot be created, opened or locked.
  static common::Result<std::unique_ptr<SqliteRecordStore>> Open(Config config);

  common::Result<CreateOutcome> Create(const ImageRecord& record,
                                       const std::optional<Idempotency>& idempotency) override;
  common::Result<ImageRecord> Get(std::string_view id) override;
  common::Result<Page> List(std::string_view after_id, int limit) override;
  common::Result<ImageRecord> FindBySource(std::string_view source_url) override;
  common::Result<Page> ListPending(std::string_view after_id, Timestamp updated_before,
                                   int limit) override;
  common::Result<ImageRecord> MarkReady(std::string_view id, const ImageFacts& facts) override;
  common::Result<ImageRecord> MarkChecked(std::string_view id, const ImageFacts& facts) override;
  common::Result<ImageRecord> MarkFailed(std::string_view id, std::string_view error) override;
  common::Result<ImageRecord> SetVariants(std::string_view id,
                                          const std::vector<Variant>& variants) override;
  common::Result<ImageRecord> MarkDeleted(std::string_view id) override;

  using Db = sqlite::Db;
  using Statement = sqlite::Statement;

  // Only Open() makes the key, so every store is migrated before use.
  class PassKey {
    friend class SqliteRecordStore;
    PassKey() = default;
  };
  SqliteRecordStore(PassKey, Config config, Db db);

 private:
  struct Statements {
    Statement insert;
    Statement select_by_id;
    Statement select_by_key;
    Statement list;
    Statement find_by_source;
    Statement list_pending;
    Statement mark_ready;
    Statement mark_checked;
    Statement mark_failed;
    Statement set_variants;
    Statement mark_deleted;
  };

  common::Result<void> Prepare();
  // Caller holds mu_. kNotFound when there is no such record.
  common::Result<ImageRecord> GetLocked(std::string_view id);
  // MarkReady and MarkChecked: `update` takes the id and the facts as ?1..?6, now as ?7.
  common::Result<ImageRecord> SetFacts(sqlite3_stmt* update, std::string_view id,
                                       const ImageFacts& facts);
  // Steps a bound UPDATE … RETURNING (the caller holds mu_ and resets it); no row means the
  // record is missing or the transition is not allowed, which a second look tells apart.
  common::Result<ImageRecord> UpdateLocked(sqlite3_stmt* update, std::string_view id,
                                           bool deleted_is_done);

  const Config config_;
  std::timed_mutex mu_;
  Db db_;
  Statements statements_;
};

}  // namespace imgorigin::ingest
