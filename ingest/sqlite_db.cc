#include "ingest/sqlite_db.h"

#include <filesystem>
#include <system_error>

namespace imgorigin::ingest::sqlite {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;
using common::Fail;

// The one-row answer of `sql` as text ("" for none).
common::Result<std::string> QueryText(sqlite3* db, const char* sql, std::string_view subject) {
  auto statement = Prepare(db, sql, subject);
  if (!statement) return std::unexpected(statement.error());
  const int rc = sqlite3_step(statement->get());
  if (rc == SQLITE_DONE) return std::string();
  if (rc != SQLITE_ROW) return std::unexpected(ErrorOf(rc, subject));
  return std::string(ColumnText(statement->get(), 0));
}

}  // namespace

common::Error ErrorOf(int code, std::string_view subject) {
  const std::string name(subject);
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return {ErrorCode::kUnavailable, name + " busy: the database is locked; retry later"};
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
    case SQLITE_NOLFS:
      return {ErrorCode::kUnavailable,
              name + " unavailable: its database file cannot be read or written"};
    case SQLITE_CONSTRAINT:
      return {ErrorCode::kConflict, "the change contradicts what the " + name + " holds"};
    default:
      return {ErrorCode::kInternal, name + " failed: SQLite error " + std::to_string(code & 0xff)};
  }
}

int64_t NowMs() {
  return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now())
      .time_since_epoch()
      .count();
}

std::string_view ColumnText(sqlite3_stmt* s, int index) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, index));
  return text ? std::string_view(text, static_cast<size_t>(sqlite3_column_bytes(s, index))) : "";
}

std::string_view ColumnBlob(sqlite3_stmt* s, int index) {
  const auto* bytes = static_cast<const char*>(sqlite3_column_blob(s, index));
  return bytes ? std::string_view(bytes, static_cast<size_t>(sqlite3_column_bytes(s, index))) : "";
}

common::Result<void> Exec(sqlite3* db, const char* sql, std::string_view subject) {
  if (int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr); rc != SQLITE_OK) {
    return std::unexpected(ErrorOf(rc, subject));
  }
  return {};
}

common::Result<Statement> Prepare(sqlite3* db, const char* sql, std::string_view subject) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  Statement statement(raw);
  if (rc != SQLITE_OK) return std::unexpected(ErrorOf(rc, subject));
  return statement;
}

common::Result<void> Transaction::Commit() {
  auto r = Exec(db_, "COMMIT", subject_);
  committed_ = r.has_value();
  return r;
}

common::Result<Db> Open(const std::string& path, std::chrono::milliseconds busy_timeout,
                        std::string_view subject) {
  const std::string name(subject);
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) {
    return Fail(ErrorCode::kUnavailable,
                name + " unavailable: cannot create the directory of its database file");
  }
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &raw,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
      nullptr);
  Db db(raw);  // owned even when opening failed: SQLite allocates the handle either way
  if (rc != SQLITE_OK) return std::unexpected(ErrorOf(rc, subject));
  sqlite3_busy_timeout(db.get(), static_cast<int>(busy_timeout.count()));
  auto mode = QueryText(db.get(), "PRAGMA journal_mode = WAL", subject);
  if (!mode) return std::unexpected(mode.error());
  if (*mode != "wal") {
    return Fail(ErrorCode::kUnavailable,
                name + " unavailable: its file system does not support SQLite's WAL mode");
  }
  if (auto r = Exec(db.get(), "PRAGMA synchronous = FULL", subject); !r) {
    return std::unexpected(r.error());
  }
  return db;
}

common::Result<void> Migrate(sqlite3* db, std::span<const Migration> migrations,
                             std::string_view table, std::string_view subject) {
  if (auto r = Exec(db, "BEGIN IMMEDIATE", subject); !r) return r;
  Transaction transaction(db, subject);
  const std::string t(table);
  const std::string create = "CREATE TABLE IF NOT EXISTS " + t +
                             " (version INTEGER PRIMARY KEY NOT NULL, applied_ms INTEGER NOT NULL)";
  if (auto r = Exec(db, create.c_str(), subject); !r) return r;
  const std::string select = "SELECT coalesce(max(version), 0) FROM " + t;
  auto current_text = QueryText(db, select.c_str(), subject);
  if (!current_text) return std::unexpected(current_text.error());
  const int current = std::stoi(*current_text);
  const int latest = migrations.back().version;
  if (current > latest) {
    return Fail(ErrorCode::kInternal, std::string(subject) + " schema is version " +
                                          std::to_string(current) +
                                          ", newer than this imgorigin knows (" +
                                          std::to_string(latest) + "); run a newer imgorigin");
  }
  const std::string insert = "INSERT INTO " + t + " (version, applied_ms) VALUES (?, ?)";
  auto record = Prepare(db, insert.c_str(), subject);
  if (!record) return std::unexpected(record.error());
  for (const Migration& m : migrations) {
    if (m.version <= current) continue;
    if (auto r = Exec(db, m.sql, subject); !r) return r;
    InUse use(record->get());
    sqlite3_bind_int(record->get(), 1, m.version);
    sqlite3_bind_int64(record->get(), 2, NowMs());
    if (int rc = sqlite3_step(record->get()); rc != SQLITE_DONE) {
      return std::unexpected(ErrorOf(rc, subject));
    }
  }
  return transaction.Commit();
}

}  // namespace imgorigin::ingest::sqlite
