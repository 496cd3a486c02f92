#include "ingest/sqlite_record_store.h"

#include <utility>

#include "ingest/sqlite_db.h"
#include "ingest/stored_record.h"

namespace imgorigin::ingest {
namespace {

using sqlite::BindText;
using sqlite::ColumnText;
using sqlite::InUse;
using sqlite::NowMs;

using common::ErrorCode;
using common::Fail;

// Written once, applied in order, never edited after release: a change is a new version.
constexpr sqlite::Migration kMigrations[] = {
    {1, R"sql(
      CREATE TABLE images (
        id TEXT PRIMARY KEY NOT NULL,
        source_url TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'ready', 'failed', 'deleted')),
        format TEXT NOT NULL DEFAULT '',
        width INTEGER NOT NULL DEFAULT 0,
        height INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        sha256 TEXT NOT NULL DEFAULT '',
        metadata TEXT NOT NULL DEFAULT '{}',
        variants TEXT NOT NULL DEFAULT '[]',
        last_error TEXT NOT NULL DEFAULT '',
        idempotency_key TEXT UNIQUE,
        request_fingerprint TEXT,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
      );
    )sql"},
    // FindBySource (an S3 event names an object, not an id) and ListPending (a sweep of the few
    // pending records among many).
    {2, R"sql(
      CREATE INDEX images_by_source ON images (source_url, id);
      CREATE INDEX images_pending ON images (id) WHERE status = 'pending';
    )sql"},
};

#define IMGORIGIN_COLUMNS                                                              \
  "id, source_url, status, format, width, height, bytes, sha256, metadata, variants, " \
  "last_error, created_ms, updated_ms"

constexpr char kInsert[] =
    "INSERT INTO images (id, source_url, status, format, width, height, bytes, sha256, "
    "metadata, variants, last_error, idempotency_key, request_fingerprint, created_ms, "
    "updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, '', ?11, ?12, ?13, ?13) "
    "ON CONFLICT DO NOTHING RETURNING " IMGORIGIN_COLUMNS;
constexpr char kSelectById[] = "SELECT " IMGORIGIN_COLUMNS " FROM images WHERE id = ?1";
constexpr char kSelectByKey[] =
    "SELECT " IMGORIGIN_COLUMNS ", request_fingerprint FROM images WHERE idempotency_key = ?1";
// '' sorts before every id, so the first page needs no statement of its own.
constexpr char kList[] = "SELECT " IMGORIGIN_COLUMNS
                         " FROM images WHERE id > ?1 AND status <> 'deleted' ORDER BY id LIMIT ?2";
constexpr char kFindBySource[] = "SELECT " IMGORIGIN_COLUMNS
                                 " FROM images WHERE source_url = ?1 AND status <> 'deleted' "
                                 "ORDER BY id DESC LIMIT 1";
constexpr char kListPending[] = "SELECT " IMGORIGIN_COLUMNS
                                " FROM images WHERE status = 'pending' AND id > ?1 AND "
                                "updated_ms < ?2 ORDER BY id LIMIT ?3";
constexpr char kMarkReady[] =
    "UPDATE images SET status = 'ready', format = ?2, width = ?3, height = ?4, bytes = ?5, "
    "sha256 = ?6, last_error = '', updated_ms = ?7 WHERE id = ?1 AND status <> 'deleted' "
    "RETURNING " IMGORIGIN_COLUMNS;
constexpr char kMarkChecked[] =
    "UPDATE images SET status = 'pending', format = ?2, width = ?3, height = ?4, bytes = ?5, "
    "sha256 = ?6, last_error = '', updated_ms = ?7 WHERE id = ?1 AND status IN ('pending', "
    "'failed') RETURNING " IMGORIGIN_COLUMNS;
constexpr char kMarkFailed[] =
    "UPDATE images SET status = 'failed', last_error = ?2, updated_ms = ?3 "
    "WHERE id = ?1 AND status IN ('pending', 'failed') RETURNING " IMGORIGIN_COLUMNS;
constexpr char kSetVariants[] =
    "UPDATE images SET variants = ?2, updated_ms = ?3 WHERE id = ?1 AND status <> 'deleted' "
    "RETURNING " IMGORIGIN_COLUMNS;
constexpr char kMarkDeleted[] =
    "UPDATE images SET status = 'deleted', updated_ms = ?2 WHERE id = ?1 AND status <> 'deleted' "
    "RETURNING " IMGORIGIN_COLUMNS;
constexpr int kColumnCount = 13;

#undef IMGORIGIN_COLUMNS

constexpr std::string_view kSubject = "record store";

common::Error SqliteError(int code) { return sqlite::ErrorOf(code, kSubject); }

common::Result<ImageRecord> ReadRecord(sqlite3_stmt* s) {
  StoredColumns row;
  row.id = ColumnText(s, 0);
  row.source_url = ColumnText(s, 1);
  row.status = ColumnText(s, 2);
  row.format = ColumnText(s, 3);
  row.width = sqlite3_column_int64(s, 4);
  row.height = sqlite3_column_int64(s, 5);
  row.bytes = sqlite3_column_int64(s, 6);
  row.sha256 = ColumnText(s, 7);
  row.metadata = ColumnText(s, 8);
  row.variants = ColumnText(s, 9);
  row.last_error = ColumnText(s, 10);
  row.created_ms = sqlite3_column_int64(s, 11);
  row.updated_ms = sqlite3_column_int64(s, 12);
  return FromStoredColumns(row);
}

// Steps a statement that yields at most one row: the record, nullopt for none.
common::Result<std::optional<ImageRecord>> StepOne(sqlite3_stmt* s) {
  int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) return std::unexpected(SqliteError(rc));
  auto record = ReadRecord(s);
  if (!record) return std::unexpected(record.error());
  // Stepping on to the end finishes the statement, so an UPDATE commits now.
  if (rc = sqlite3_step(s); rc != SQLITE_DONE) return std::unexpected(SqliteError(rc));
  return std::optional<ImageRecord>(std::move(*record));
}

// Steps a bound listing that asked for limit + 1 rows: the extra row only says a next page exists.
common::Result<Page> ReadPage(sqlite3_stmt* s, int limit) {
  Page page;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (static_cast<int>(page.records.size()) == limit) {
      page.next_after = page.records.back().id;
      break;
    }
    auto record = ReadRecord(s);
    if (!record) return std::unexpected(record.error());
    page.records.push_back(std::move(*record));
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return std::unexpected(SqliteError(rc));
  return page;
}

common::Error Busy() { return {ErrorCode::kUnavailable, "record store busy: retry later"}; }

}  // namespace

common::Result<void> SqliteRecordStore::Config::Validate() const {
  if (path.empty()) return Fail(ErrorCode::kInvalidArgument, "SQLite record store path is empty");
  if (busy_timeout.count() <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "SQLite busy timeout must be positive");
  }
  return {};
}

common::Result<std::unique_ptr<SqliteRecordStore>> SqliteRecordStore::Open(Config config) {
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  auto db = sqlite::Open(config.path, config.busy_timeout, kSubject);
  if (!db) return std::unexpected(db.error());
  // The record store's own migration table; the job queue in the same file keeps another.
  if (auto r = sqlite::Migrate(db->get(), kMigrations, "schema_migrations", kSubject); !r) {
    return std::unexpected(r.error());
  }
  auto store = std::make_unique<SqliteRecordStore>(PassKey{}, std::move(config), *std::move(db));
  if (auto r = store->Prepare(); !r) return std::unexpected(r.error());
  return store;
}

SqliteRecordStore::SqliteRecordStore(PassKey, Config config, Db db)
    : config_(std::move(config)), db_(std::move(db)) {}

common::Result<void> SqliteRecordStore::Prepare() {
  std::pair<Statement*, const char*> all[] = {
      {&statements_.insert, kInsert},
      {&statements_.select_by_id, kSelectById},
      {&statements_.select_by_key, kSelectByKey},
      {&statements_.list, kList},
      {&statements_.find_by_source, kFindBySource},
      {&statements_.list_pending, kListPending},
      {&statements_.mark_ready, kMarkReady},
      {&statements_.mark_checked, kMarkChecked},
      {&statements_.mark_failed, kMarkFailed},
      {&statements_.set_variants, kSetVariants},
      {&statements_.mark_deleted, kMarkDeleted},
  };
  for (auto& [slot, sql] : all) {
    auto statement = sqlite::Prepare(db_.get(), sql, kSubject);
    if (!statement) return std::unexpected(statement.error());
    *slot = std::move(*statement);
  }
  return {};
}

common::Result<CreateOutcome> SqliteRecordStore::Create(
    const ImageRecord& record, const std::optional<Idempotency>& idempotency) {
  if (auto r = ValidateNewRecord(record); !r) return std::unexpected(r.error());
  if (idempotency) {
    if (auto r = ValidateIdempotency(*idempotency); !r) return std::unexpected(r.error());
  }
  std::unique_lock lock(mu_, config_.busy_timeout);
  if (!lock.owns_lock()) return std::unexpected(Busy());
  {
    sqlite3_stmt* s = statements_.insert.get();
    InUse use(s);
    BindText(s, 1, record.id);
    BindText(s, 2, record.source_url);
    BindText(s, 3, StatusName(record.status));
    BindText(s, 4, record.facts.format);
    sqlite3_bind_int64(s, 5, record.facts.width);
    sqlite3_bind_int64(s, 6, record.facts.height);
    sqlite3_bind_int64(s, 7, record.facts.bytes);
    BindText(s, 8, record.facts.sha256);
    BindText(s, 9, SerializeMetadata(record.metadata));
    BindText(s, 10, SerializeVariants(record.variants));
    if (idempotency) {
      BindText(s, 11, idempotency->key);
      BindText(s, 12, idempotency->fingerprint);
    }  // unbound parameters are NULL: no key
    sqlite3_bind_int64(s, 13, NowMs());
    auto inserted = StepOne(s);
    if (!inserted) return std::unexpected(inserted.error());
    if (*inserted) return CreateOutcome{std::move(**inserted), true};
  }
  // Nothing inserted: the id or the key is taken. A taken key decides, as a retry may well come
  // with a fresh id.
  if (idempotency) {
    sqlite3_stmt* s = statements_.select_by_key.get();
    InUse use(s);
    BindText(s, 1, idempotency->key);
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      if (ColumnText(s, kColumnCount) != idempotency->fingerprint) {
        return Fail(ErrorCode::kConflict,
                    "Idempotency-Key was already used for a different request");
      }
      auto first = ReadRecord(s);
      if (!first) return std::unexpected(first.error());
      return CreateOutcome{std::move(*first), false};
    }
    if (rc != SQLITE_DONE) return std::unexpected(SqliteError(rc));
  }
  return Fail(ErrorCode::kConflict, "an image with id " + record.id + " already exists");
}

common::Result<ImageRecord> SqliteRecordStore::GetLocked(std::string_view id) {
  sqlite3_stmt* s = statements_.select_by_id.get();
  InUse use(s);
  BindText(s, 1, id);
  auto found = StepOne(s);
  if (!found) return std::unexpected(found.error());
  if (!*found) return Fail(ErrorCode::kNotFound, "no image with id " + std::string(id));
  return std::move(**found);
}

common::Result<ImageRecord> SqliteRecordStore::Get(std::string_view id) {
  if (auto r = ValidateId(id); !r) return std::unexpected(r.error());
  std::unique_lock lock(mu_, config_.busy_timeout);
  if (!lock.owns_lock()) return std::unexpected(Busy());
  return GetLocked(id);
}

common::Result<Page> SqliteRecordStore::List(std::string_view after_id, int limit) {
  if (auto r = ValidateListArgs(after_id, limit); !r) return std::unexpected(r.error());
  std::unique_lock lock(mu_, config_.busy_timeout);
  if (!lock.owns_lock()) return std::unexpected(Busy());
  sqlite3_stmt* s = statements_.list.get();
  InUse use(s);
  BindText(s, 1, after_id);
  sqlite3_bind_int(s, 2, limit + 1);  // one more than asked says whether a next page exists
  return ReadPage(s, limit);
}

common::Result<Page> SqliteRecordStore::ListPending(std::string_view after_id,
                                                    Timestamp updated_before, int limit) {
  if (auto r = ValidateListArgs(after_id, limit); !r) return std::unexpected(r.error());
  std::unique_lock lock(mu_, config_.busy_timeout);
  if (!lock.owns_lock()) return std::unexpected(Busy());
  sqlite3_stmt* s = statements_.list_pending.get();
  InUse use(s);
  BindText(s, 1, after_id);
  sqlite3_bind_int64(s, 2, updated_before.time_since_epoch().count());
  sqlite3_bind_int(s, 3, limit + 1);
  return ReadPage(s, limit);
}

common::Result<ImageRecord> SqliteRecordStore::FindBySource(std::string_view source_url) {
  if (auto r = ValidateSourceUrl(source_url); !r) return std::unexpected(r.error());
  std::unique_lock lock(mu_, config_.busy_timeout);
  if (!lock.owns_lock()) return std::unexpected(Busy());
  sqlite3_stmt* s = statements_.find_by_source.get();
  InUse use(s);
  BindText(s, 1, source_url);
  auto found = StepOne(s);
  if (!found) return std::unexpected(found.error());
  if (!*found) return Fail(ErrorCode::kNotFound, "no image with that source URL");
  return std::move(**found);
}

common::Result<ImageRecord> SqliteRecordStore::UpdateLocked(sqlite3_stmt* update,
                                                            std::string_view id,
                                                            bool deleted_is_done) {
  auto updated = StepOne(update);
  if (!updated) return std::unexpected(updated.error());
  if (*updated) return std::move(**updated);
  auto current = GetLocked(id);
  if (!current) return current;
  if (deleted_is_done && current->status == ImageStatus::kDeleted) return current;
  return Fail(ErrorCode::kConflict,
              "image " + std::string(id) + " is " + std::string(StatusName(current->status)));
}

common::Result<ImageRecord> SqliteRecordStore::MarkReady(std::string_view id,
                                                         const ImageFacts& facts) {
  return SetFacts(statements_.mark_ready.get(), id, facts);
}

common::Result<ImageRecord> SqliteRecordStore::MarkChecked(std::string_view id,
                                                           const ImageFacts& facts) {
  return SetFacts(statements_.mark_checked.get(), id, facts);
}

common::Result<ImageRecord> SqliteRecordStore::SetFacts(sqlite3_stmt* s, std::string_view id,
                                                        const ImageFacts& facts) {
  if (auto r = ValidateId(id); !r) return std::unexpected(r.error());
  if (auto r = ValidateFacts(facts); !r) return std::unexpected(r.error());
  std::unique_lock lock(mu_, config_.busy_timeout);
  if (!lock.owns_lock()) return std::unexpected(Busy());
  InUse use(s);
  BindText(s, 1, id);
  BindText(s, 2, facts.format);
  sqlite3_bind_int64(s, 3, facts.width);
  sqlite3_bind_int64(s, 4, facts.height);
  sqlite3_bind_int64(s, 5, facts.bytes);
  BindText(s, 6, facts.sha256);
  sqlite3_bind_int64(s, 7, NowMs());
  return UpdateLocked(s, id, /*deleted_is_done=*/false);
}

common::Result<ImageRecord> SqliteRecordStore::MarkFailed(std::string_view id,
                                                          std::string_view error) {
  if (auto r = ValidateId(id); !r) return std::unexpected(r.error());
  std::unique_lock lock(mu_, config_.busy_timeout);
  if (!lock.owns_lock()) return std::unexpected(Busy());
  sqlite3_stmt* s = statements_.mark_failed.get();
  InUse use(s);
  BindText(s, 1, id);
  BindText(s, 2, CleanError(error));
  sqlite3_bind_int64(s, 3, NowMs());
  return UpdateLocked(s, id, /*deleted_is_done=*/false);
}

common::Result<ImageRecord> SqliteRecordStore::SetVariants(std::string_view id,
                                                           const std::vector<Variant>& variants) {
  if (auto r = ValidateId(id); !r) return std::unexpected(r.error());
  if (auto r = ValidateVariants(variants); !r) return std::unexpected(r.error());
  std::unique_lock lock(mu_, config_.busy_timeout);
  if (!lock.owns_lock()) return std::unexpected(Busy());
  sqlite3_stmt* s = statements_.set_variants.get();
  InUse use(s);
  BindText(s, 1, id);
  BindText(s, 2, SerializeVariants(variants));
  sqlite3_bind_int64(s, 3, NowMs());
  return UpdateLocked(s, id, /*deleted_is_done=*/false);
}

common::Result<ImageRecord> SqliteRecordStore::MarkDeleted(std::string_view id) {
  if (auto r = ValidateId(id); !r) return std::unexpected(r.error());
  std::unique_lock lock(mu_, config_.busy_timeout);
  if (!lock.owns_lock()) return std::unexpected(Busy());
  sqlite3_stmt* s = statements_.mark_deleted.get();
  InUse use(s);
  BindText(s, 1, id);
  sqlite3_bind_int64(s, 2, NowMs());
  return UpdateLocked(s, id, /*deleted_is_done=*/true);
}

}  // namespace imgorigin::ingest
