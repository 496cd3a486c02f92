// What the SQLite record store and the SQLite job queue share: opening a database file the way
// both need it (WAL, synchronous=FULL, busy_timeout), applying schema migrations recorded in a
// table of the caller's naming (each module migrates its own tables in the one file), and small
// RAII and binding helpers around the C API.
//
// Errors name the module the caller passes as `subject` ("record store", "job queue") and the
// kind of failure, never SQLite's text or the file's path. Functions only; a connection they
// return is used by one thread at a time (the callers keep it under a mutex).
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/handle.h"
#include "common/status.h"

namespace imgorigin::ingest::sqlite {

using Db = common::Handle<sqlite3, sqlite3_close_v2>;
using Statement = common::Handle<sqlite3_stmt, sqlite3_finalize>;

// busy/locked and file errors are kUnavailable, constraint violations kConflict, the rest
// kInternal.
common::Error ErrorOf(int code, std::string_view subject);

int64_t NowMs();

// Creates the file and its directory if missing, sets busy_timeout, switches to WAL and
// synchronous=FULL. kUnavailable when the file cannot be created, opened or put in WAL mode.
common::Result<Db> Open(const std::string& path, std::chrono::milliseconds busy_timeout,
                        std::string_view subject);

struct Migration {
  int version;
  const char* sql;
};

// Applies the migrations above the highest version recorded in `table` in one IMMEDIATE
// transaction (two processes opening one new file migrate in turn), and refuses a file that a
// newer imgorigin migrated. `migrations` are in ascending version order.
common::Result<void> Migrate(sqlite3* db, std::span<const Migration> migrations,
                             std::string_view table, std::string_view subject);

common::Result<void> Exec(sqlite3* db, const char* sql, std::string_view subject);
common::Result<Statement> Prepare(sqlite3* db, const char* sql, std::string_view subject);

// Resets a cached statement when a call is done with it, whichever way it leaves.
class InUse {
 public:
  explicit InUse(sqlite3_stmt* statement) : statement_(statement) {}
  ~InUse() {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
  }
  InUse(const InUse&) = delete;
  InUse& operator=(const InUse&) = delete;

 private:
  sqlite3_stmt* statement_;
};

// Rolls back unless committed: an error half way leaves the file as it was.
class Transaction {
 public:
  explicit Transaction(sqlite3* db, std::string_view subject) : db_(db), subject_(subject) {}
  ~Transaction() {
    if (!committed_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  common::Result<void> Commit();

 private:
  sqlite3* db_;
  std::string_view subject_;
  bool committed_ = false;
};

inline void BindText(sqlite3_stmt* s, int index, std::string_view text) {
  sqlite3_bind_text(s, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}
inline void BindBlob(sqlite3_stmt* s, int index, std::string_view bytes) {
  // A zero-length blob, not NULL, for an empty string (sqlite3_bind_blob takes a null pointer
  // as NULL).
  sqlite3_bind_blob(s, index, bytes.empty() ? "" : bytes.data(), static_cast<int>(bytes.size()),
                    SQLITE_TRANSIENT);
}
std::string_view ColumnText(sqlite3_stmt* s, int index);
std::string_view ColumnBlob(sqlite3_stmt* s, int index);

}  // namespace imgorigin::ingest::sqlite
