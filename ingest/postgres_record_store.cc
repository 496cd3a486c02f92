#include "ingest/postgres_record_store.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <charconv>
#include <span>
#include <utility>

#include "ingest/stored_record.h"

namespace imgorigin::ingest {
namespace {

using Clock = std::chrono::steady_clock;
using common::ErrorCode;
using common::Fail;
using PgResult = common::Handle<PGresult, PQclear>;
using Params = std::vector<std::optional<std::string>>;

// Written once, applied in order, never edited after release: a change is a new version.
constexpr const char* kVersion1[] = {
    R"sql(
      CREATE TABLE images (
        id uuid PRIMARY KEY,
        source_url text NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'ready', 'failed', 'deleted')),
        format text NOT NULL DEFAULT '',
        width integer NOT NULL DEFAULT 0,
        height integer NOT NULL DEFAULT 0,
        bytes bigint NOT NULL DEFAULT 0,
        sha256 text NOT NULL DEFAULT '',
        metadata text NOT NULL DEFAULT '{}',
        variants text NOT NULL DEFAULT '[]',
        last_error text NOT NULL DEFAULT '',
        idempotency_key text UNIQUE,
        request_fingerprint text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )
    )sql",
};

// FindBySource (an S3 event names an object, not an id) and ListPending (a sweep of the few
// pending records among many).
constexpr const char* kVersion2[] = {
    "CREATE INDEX images_by_source ON images (source_url, id)",
    "CREATE INDEX images_pending ON images (id) WHERE status = 'pending'",
};

struct Migration {
  int version;
  std::span<const char* const> statements;
};

constexpr Migration kMigrations[] = {{1, kVersion1}, {2, kVersion2}};

// The server's clock stamps records, so every node of a fleet agrees on their order.
#define IMGORIGIN_MS(column) "floor(extract(epoch FROM " column ") * 1000)::bigint"
#define IMGORIGIN_COLUMNS                                                              \
  "id, source_url, status, format, width, height, bytes, sha256, metadata, variants, " \
  "last_error, " IMGORIGIN_MS("created_at") ", " IMGORIGIN_MS("updated_at")

constexpr char kInsert[] =
    "INSERT INTO images (id, source_url, status, format, width, height, bytes, sha256, "
    "metadata, variants, idempotency_key, request_fingerprint) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
    "ON CONFLICT DO NOTHING RETURNING " IMGORIGIN_COLUMNS;
constexpr char kSelectById[] = "SELECT " IMGORIGIN_COLUMNS " FROM images WHERE id = $1";
constexpr char kSelectByKey[] =
    "SELECT " IMGORIGIN_COLUMNS ", request_fingerprint FROM images WHERE idempotency_key = $1";
constexpr char kListFirst[] =
    "SELECT " IMGORIGIN_COLUMNS " FROM images WHERE status <> 'deleted' ORDER BY id LIMIT $1";
constexpr char kListAfter[] =
    "SELECT " IMGORIGIN_COLUMNS
    " FROM images WHERE id > $1 AND status <> 'deleted' ORDER BY id LIMIT $2";
constexpr char kFindBySource[] = "SELECT " IMGORIGIN_COLUMNS
                                 " FROM images WHERE source_url = $1 AND status <> 'deleted' "
                                 "ORDER BY id DESC LIMIT 1";
// $1 is NULL for the first page. The cutoff compares milliseconds as the records report them,
// so a record listed is one whose `updated` is before it.
constexpr char kListPending[] =
    "SELECT " IMGORIGIN_COLUMNS
    " FROM images WHERE status = 'pending' AND ($1::uuid IS NULL OR id > $1::uuid) "
    "AND " IMGORIGIN_MS("updated_at") " < $2::bigint ORDER BY id LIMIT $3";
constexpr char kMarkReady[] =
    "UPDATE images SET status = 'ready', format = $2, width = $3, height = $4, bytes = $5, "
    "sha256 = $6, last_error = '', updated_at = now() WHERE id = $1 AND status <> 'deleted' "
    "RETURNING " IMGORIGIN_COLUMNS;
constexpr char kMarkChecked[] =
    "UPDATE images SET status = 'pending', format = $2, width = $3, height = $4, bytes = $5, "
    "sha256 = $6, last_error = '', updated_at = now() "
    "WHERE id = $1 AND status IN ('pending', 'failed') RETURNING " IMGORIGIN_COLUMNS;
constexpr char kMarkFailed[] =
    "UPDATE images SET status = 'failed', last_error = $2, updated_at = now() "
    "WHERE id = $1 AND status IN ('pending', 'failed') RETURNING " IMGORIGIN_COLUMNS;
constexpr char kSetVariants[] =
    "UPDATE images SET variants = $2, updated_at = now() WHERE id = $1 AND status <> 'deleted' "
    "RETURNING " IMGORIGIN_COLUMNS;
constexpr char kMarkDeleted[] =
    "UPDATE images SET status = 'deleted', updated_at = now() "
    "WHERE id = $1 AND status <> 'deleted' RETURNING " IMGORIGIN_COLUMNS;
constexpr int kColumnCount = 13;

#undef IMGORIGIN_COLUMNS
#undef IMGORIGIN_MS

// Messages name the kind of failure, never libpq's text (it names hosts); that goes to the log.
common::Error Lost() {
  return {ErrorCode::kUnavailable, "record store unavailable: the connection to PostgreSQL broke"};
}

common::Error TimedOut(std::chrono::milliseconds timeout) {
  return {ErrorCode::kUnavailable, "record store unavailable: PostgreSQL did not answer within " +
                                       std::to_string(timeout.count()) + " ms"};
}

std::string Trimmed(const char* message) {
  std::string out = message ? message : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

common::Error ServerError(const PGresult* result) {
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const std::string code = state ? state : "";
  const std::string klass = code.substr(0, 2);
  if (code == "23505") {
    return {ErrorCode::kConflict, "the record contradicts one already stored"};
  }
  // Connection trouble (08), serialization failures (40), out of resources (53), shutdown or
  // statement_timeout (57), I/O errors (58), a read-only standby after a failover (25006) and
  // lock timeouts (55P03) pass with time: the caller should retry.
  if (klass == "08" || klass == "40" || klass == "53" || klass == "57" || klass == "58" ||
      code == "25006" || code == "55P03") {
    return {ErrorCode::kUnavailable,
            "record store unavailable: PostgreSQL refused the statement (SQLSTATE " + code + ")"};
  }
  spdlog::error("record store: PostgreSQL error: {}", Trimmed(PQresultErrorMessage(result)));
  return {ErrorCode::kInternal, "record store failed: PostgreSQL error " + code};
}

// Waits until the connection's socket is ready for `events`; false once `deadline` passed.
bool WaitFor(PGconn* connection, short events, Clock::time_point deadline) {
  const int fd = PQsocket(connection);
  if (fd < 0) return false;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, static_cast<int>(left));
    if (n > 0) return true;
    if (n == 0 || errno != EINTR) return false;
  }
}

// One statement with text parameters, on a non-blocking connection, within `timeout`. A
// kUnavailable answer means the connection must not be used again.
common::Result<PgResult> Exec(PGconn* connection, const char* sql, const Params& params,
                              std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  if (!PQsendQueryParams(connection, sql, static_cast<int>(values.size()), nullptr, values.data(),
                         nullptr, nullptr, 0)) {
    return std::unexpected(Lost());
  }
  for (;;) {
    const int flushed = PQflush(connection);
    if (flushed == 0) break;
    if (flushed < 0) return std::unexpected(Lost());
    // libpq's rule for a non-blocking send: read whatever the server says meanwhile.
    if (!WaitFor(connection, POLLIN | POLLOUT, deadline)) return std::unexpected(TimedOut(timeout));
    if (!PQconsumeInput(connection)) return std::unexpected(Lost());
  }
  PgResult first;
  for (;;) {
    while (PQisBusy(connection)) {
      if (!WaitFor(connection, POLLIN, deadline)) return std::unexpected(TimedOut(timeout));
      if (!PQconsumeInput(connection)) return std::unexpected(Lost());
    }
    PgResult next(PQgetResult(connection));
    if (!next) break;
    if (!first) first = std::move(next);
  }
  if (!first || PQstatus(connection) == CONNECTION_BAD) return std::unexpected(Lost());
  const ExecStatusType status = PQresultStatus(first.get());
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return first;
  return std::unexpected(ServerError(first.get()));
}

std::string_view Value(const PGresult* result, int row, int column) {
  return std::string_view(PQgetvalue(result, row, column),
                          static_cast<size_t>(PQgetlength(result, row, column)));
}

common::Result<ImageRecord> ReadRecord(const PGresult* result, int row) {
  bool numbers_ok = true;
  auto integer = [&](int column) -> int64_t {
    const std::string_view text = Value(result, row, column);
    int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    numbers_ok = numbers_ok && ec == std::errc() && end == text.data() + text.size();
    return value;
  };
  StoredColumns columns;
  columns.id = Value(result, row, 0);
  columns.source_url = Value(result, row, 1);
  columns.status = Value(result, row, 2);
  columns.format = Value(result, row, 3);
  columns.width = integer(4);
  columns.height = integer(5);
  columns.bytes = integer(6);
  columns.sha256 = Value(result, row, 7);
  columns.metadata = Value(result, row, 8);
  columns.variants = Value(result, row, 9);
  columns.last_error = Value(result, row, 10);
  columns.created_ms = integer(11);
  columns.updated_ms = integer(12);
  if (!numbers_ok) return Fail(ErrorCode::kInternal, "record store returned a malformed number");
  return FromStoredColumns(columns);
}

// A listing that asked for limit + 1 rows: the extra row only says a next page exists.
common::Result<Page> ReadPage(const PGresult* rows, int limit) {
  Page page;
  const int n = PQntuples(rows);
  for (int i = 0; i < n && i < limit; ++i) {
    auto record = ReadRecord(rows, i);
    if (!record) return std::unexpected(record.error());
    page.records.push_back(std::move(*record));
  }
  if (n > limit) page.next_after = page.records.back().id;
  return page;
}

bool IsIdentifier(std::string_view name) {
  if (name.empty() || name.size() > 63 || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

common::Error Busy(size_t connections) {
  return {ErrorCode::kUnavailable, "record store busy: all " + std::to_string(connections) +
                                       " PostgreSQL connections are in use; retry later"};
}

}  // namespace

class PostgresRecordStore::Lease {
 public:
  Lease(PostgresRecordStore* store, Connection connection)
      : store_(store), connection_(std::move(connection)) {}
  Lease(Lease&&) noexcept = default;
  Lease& operator=(Lease&&) = delete;
  ~Lease() {
    if (connection_) store_->Release(std::move(connection_), healthy_);
  }

  common::Result<PgResult> Run(const char* sql, const Params& params = {}) {
    auto result = Exec(connection_.get(), sql, params, store_->config_.query_timeout);
    if (!result && result.error().code == ErrorCode::kUnavailable) healthy_ = false;
    return result;
  }

 private:
  PostgresRecordStore* store_;
  Connection connection_;
  bool healthy_ = true;
};

common::Result<void> PostgresRecordStore::Config::Validate() const {
  if (conninfo.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "PostgreSQL record store needs a connection string");
  }
  char* raw_error = nullptr;
  common::Handle<PQconninfoOption, PQconninfoFree> parsed(
      PQconninfoParse(conninfo.c_str(), &raw_error));
  common::Handle<char, PQfreemem> error(raw_error);
  if (!parsed) {
    // libpq's message may quote the string, password included.
    return Fail(ErrorCode::kInvalidArgument,
                "PostgreSQL connection string does not parse as key=value pairs or a "
                "postgresql:// URI");
  }
  if (!IsIdentifier(schema)) {
    return Fail(ErrorCode::kInvalidArgument,
                "PostgreSQL schema must be a lowercase identifier (a-z, 0-9, _)");
  }
  if (max_connections == 0) {
    return Fail(ErrorCode::kInvalidArgument, "PostgreSQL max_connections must be at least 1");
  }
  if (connect_timeout.count() <= 0 || query_timeout.count() <= 0 || acquire_timeout.count() <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "PostgreSQL timeouts must be positive");
  }
  return {};
}

common::Result<std::unique_ptr<PostgresRecordStore>> PostgresRecordStore::Open(Config config) {
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  auto store = std::make_unique<PostgresRecordStore>(PassKey{}, std::move(config));
  if (auto r = store->Migrate(); !r) return std::unexpected(r.error());
  return store;
}

PostgresRecordStore::PostgresRecordStore(PassKey, Config config) : config_(std::move(config)) {}

common::Result<PostgresRecordStore::Connection> PostgresRecordStore::Connect() {
  auto fail = [this](const PGconn* connection) {
    std::lock_guard lock(mu_);
    if (!connect_failing_) {  // once per outage, not once per call
      spdlog::warn("record store: cannot connect to PostgreSQL: {}",
                   connection ? Trimmed(PQerrorMessage(connection)) : "out of memory");
      connect_failing_ = true;
    }
    return Fail(ErrorCode::kUnavailable, "record store unavailable: cannot connect to PostgreSQL");
  };
  // expand_dbname: the first "dbname" is the whole connection string; our fallback name only
  // applies when it sets none.
  const char* const keywords[] = {"dbname", "fallback_application_name", nullptr};
  const char* const values[] = {config_.conninfo.c_str(), "imgorigin", nullptr};
  Connection connection(PQconnectStartParams(keywords, values, /*expand_dbname=*/1));
  if (!connection || PQstatus(connection.get()) == CONNECTION_BAD) return fail(connection.get());
  const auto deadline = Clock::now() + config_.connect_timeout;
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;  // libpq's documented first wait
  while (state != PGRES_POLLING_OK) {
    if (state == PGRES_POLLING_FAILED) return fail(connection.get());
    const short events = state == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    if (!WaitFor(connection.get(), events, deadline)) {
      std::lock_guard lock(mu_);
      if (!connect_failing_) {
        spdlog::warn("record store: PostgreSQL did not accept a connection within {} ms",
                     config_.connect_timeout.count());
        connect_failing_ = true;
      }
      return Fail(ErrorCode::kUnavailable,
                  "record store unavailable: PostgreSQL did not accept a connection within " +
                      std::to_string(config_.connect_timeout.count()) + " ms");
    }
    state = PQconnectPoll(connection.get());
  }
  if (PQsetnonblocking(connection.get(), 1) != 0) return fail(connection.get());
  // client_min_messages: notices ("already exists, skipping") would go to stderr otherwise.
  auto setup =
      Exec(connection.get(),
           "SELECT set_config('search_path', $1, false), "
           "set_config('statement_timeout', $2, false), "
           "set_config('client_min_messages', 'warning', false)",
           {config_.schema, std::to_string(config_.query_timeout.count())}, config_.query_timeout);
  if (!setup) return std::unexpected(setup.error());
  std::lock_guard lock(mu_);
  if (connect_failing_) spdlog::info("record store: connected to PostgreSQL again");
  connect_failing_ = false;
  return connection;
}

common::Result<PostgresRecordStore::Lease> PostgresRecordStore::Acquire() {
  const auto deadline = Clock::now() + config_.acquire_timeout;
  std::vector<Connection> stale;  // closed after the lock is released
  std::unique_lock lock(mu_);
  for (;;) {
    while (!idle_.empty()) {
      Connection connection = std::move(idle_.back());
      idle_.pop_back();
      // Reading what the server sent while the connection sat idle tells whether it closed it
      // (a restart, a failover, an idle timeout); libpq's sockets never block here.
      PGconn* c = connection.get();
      if (PQconsumeInput(c) && PQstatus(c) == CONNECTION_OK &&
          PQtransactionStatus(c) == PQTRANS_IDLE) {
        return Lease(this, std::move(connection));
      }
      --open_;
      stale.push_back(std::move(connection));
    }
    if (open_ < config_.max_connections) {
      ++open_;
      lock.unlock();
      auto connection = Connect();
      if (!connection) {
        lock.lock();
        --open_;
        released_.notify_one();
        return std::unexpected(connection.error());
      }
      return Lease(this, std::move(*connection));
    }
    if (released_.wait_until(lock, deadline) == std::cv_status::timeout) {
      if (idle_.empty() && open_ >= config_.max_connections) {
        return std::unexpected(Busy(config_.max_connections));
      }
    }
  }
}

void PostgresRecordStore::Release(Connection connection, bool healthy) {
  PGconn* c = connection.get();
  const bool keep =
      healthy && PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE;
  {
    std::lock_guard lock(mu_);
    if (keep) {
      idle_.push_back(std::move(connection));
    } else {
      --open_;
    }
  }
  released_.notify_one();
}  // a connection not kept closes here, outside the lock

common::Result<void> PostgresRecordStore::Migrate() {
  auto lease = Acquire();
  if (!lease) return std::unexpected(lease.error());
  // Any failure below returns with the transaction open: the lease then drops the connection
  // and the server rolls everything back.
  if (auto r = lease->Run("BEGIN"); !r) return std::unexpected(r.error());
  if (auto r = lease->Run("SELECT pg_advisory_xact_lock(hashtext($1))",
                          {"imgorigin migrations " + config_.schema});
      !r) {
    return std::unexpected(r.error());
  }
  auto schema = lease->Run("SELECT 1 FROM pg_namespace WHERE nspname = $1", {config_.schema});
  if (!schema) return std::unexpected(schema.error());
  if (PQntuples(schema->get()) == 0) {
    // An identifier cannot be a parameter; Config::Validate() allowed only [a-z0-9_] in it.
    const std::string create = "CREATE SCHEMA " + config_.schema;
    if (auto r = lease->Run(create.c_str()); !r) return std::unexpected(r.error());
  }
  if (auto r =
          lease->Run("CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
      !r) {
    return std::unexpected(r.error());
  }
  auto current_result = lease->Run("SELECT coalesce(max(version), 0) FROM schema_migrations");
  if (!current_result) return std::unexpected(current_result.error());
  int current = 0;
  const std::string_view text = Value(current_result->get(), 0, 0);
  std::from_chars(text.data(), text.data() + text.size(), current);
  const int latest = std::end(kMigrations)[-1].version;
  if (current > latest) {
    return Fail(ErrorCode::kInternal, "record store schema is version " + std::to_string(current) +
                                          ", newer than this imgorigin knows (" +
                                          std::to_string(latest) + "); run a newer imgorigin");
  }
  for (const Migration& m : kMigrations) {
    if (m.version <= current) continue;
    for (const char* statement : m.statements) {
      if (auto r = lease->Run(statement); !r) return std::unexpected(r.error());
    }
    if (auto r = lease->Run("INSERT INTO schema_migrations (version) VALUES ($1)",
                            {std::to_string(m.version)});
        !r) {
      return std::unexpected(r.error());
    }
  }
  if (auto r = lease->Run("COMMIT"); !r) return std::unexpected(r.error());
  return {};
}

common::Result<CreateOutcome> PostgresRecordStore::Create(
    const ImageRecord& record, const std::optional<Idempotency>& idempotency) {
  if (auto r = ValidateNewRecord(record); !r) return std::unexpected(r.error());
  if (idempotency) {
    if (auto r = ValidateIdempotency(*idempotency); !r) return std::unexpected(r.error());
  }
  const ImageFacts& f = record.facts;
  const Params params = {
      record.id,
      record.source_url,
      std::string(StatusName(record.status)),
      f.format,
      std::to_string(f.width),
      std::to_string(f.height),
      std::to_string(f.bytes),
      f.sha256,
      SerializeMetadata(record.metadata),
      SerializeVariants(record.variants),
      idempotency ? std::optional(idempotency->key) : std::nullopt,
      idempotency ? std::optional(idempotency->fingerprint) : std::nullopt,
  };
  auto lease = Acquire();
  if (!lease) return std::unexpected(lease.error());
  auto inserted = lease->Run(kInsert, params);
  if (!inserted) return std::unexpected(inserted.error());
  if (PQntuples(inserted->get()) == 1) {
    auto stored = ReadRecord(inserted->get(), 0);
    if (!stored) return std::unexpected(stored.error());
    return CreateOutcome{std::move(*stored), true};
  }
  // Nothing inserted: the id or the key is taken. A taken key decides, as a retry may well come
  // with a fresh id. ON CONFLICT waited for a concurrent insert of the same key to commit, so
  // this statement (a new snapshot) sees it.
  if (idempotency) {
    auto first = lease->Run(kSelectByKey, {idempotency->key});
    if (!first) return std::unexpected(first.error());
    if (PQntuples(first->get()) == 1) {
      if (Value(first->get(), 0, kColumnCount) != idempotency->fingerprint) {
        return Fail(ErrorCode::kConflict,
                    "Idempotency-Key was already used for a different request");
      }
      auto stored = ReadRecord(first->get(), 0);
      if (!stored) return std::unexpected(stored.error());
      return CreateOutcome{std::move(*stored), false};
    }
  }
  return Fail(ErrorCode::kConflict, "an image with id " + record.id + " already exists");
}

common::Result<ImageRecord> PostgresRecordStore::Get(std::string_view id) {
  if (auto r = ValidateId(id); !r) return std::unexpected(r.error());
  auto lease = Acquire();
  if (!lease) return std::unexpected(lease.error());
  auto found = lease->Run(kSelectById, {std::string(id)});
  if (!found) return std::unexpected(found.error());
  if (PQntuples(found->get()) == 0) {
    return Fail(ErrorCode::kNotFound, "no image with id " + std::string(id));
  }
  return ReadRecord(found->get(), 0);
}

common::Result<Page> PostgresRecordStore::List(std::string_view after_id, int limit) {
  if (auto r = ValidateListArgs(after_id, limit); !r) return std::unexpected(r.error());
  // One more than asked says whether a next page exists.
  const std::string fetch = std::to_string(limit + 1);
  auto lease = Acquire();
  if (!lease) return std::unexpected(lease.error());
  auto rows = after_id.empty() ? lease->Run(kListFirst, {fetch})
                               : lease->Run(kListAfter, {std::string(after_id), fetch});
  if (!rows) return std::unexpected(rows.error());
  return ReadPage(rows->get(), limit);
}

common::Result<Page> PostgresRecordStore::ListPending(std::string_view after_id,
                                                      Timestamp updated_before, int limit) {
  if (auto r = ValidateListArgs(after_id, limit); !r) return std::unexpected(r.error());
  const Params params = {
      after_id.empty() ? std::nullopt : std::optional<std::string>(after_id),
      std::to_string(updated_before.time_since_epoch().count()),
      std::to_string(limit + 1),  // one more than asked says whether a next page exists
  };
  auto lease = Acquire();
  if (!lease) return std::unexpected(lease.error());
  auto rows = lease->Run(kListPending, params);
  if (!rows) return std::unexpected(rows.error());
  return ReadPage(rows->get(), limit);
}

common::Result<ImageRecord> PostgresRecordStore::FindBySource(std::string_view source_url) {
  if (auto r = ValidateSourceUrl(source_url); !r) return std::unexpected(r.error());
  auto lease = Acquire();
  if (!lease) return std::unexpected(lease.error());
  auto found = lease->Run(kFindBySource, {std::string(source_url)});
  if (!found) return std::unexpected(found.error());
  if (PQntuples(found->get()) == 0) {
    return Fail(ErrorCode::kNotFound, "no image with that source URL");
  }
  return ReadRecord(found->get(), 0);
}

common::Result<ImageRecord> PostgresRecordStore::Update(const char* sql, const Params& params,
                                                        bool deleted_is_done) {
  auto lease = Acquire();
  if (!lease) return std::unexpected(lease.error());
  auto updated = lease->Run(sql, params);
  if (!updated) return std::unexpected(updated.error());
  if (PQntuples(updated->get()) == 1) return ReadRecord(updated->get(), 0);
  const std::string& id = *params[0];
  auto found = lease->Run(kSelectById, {id});
  if (!found) return std::unexpected(found.error());
  if (PQntuples(found->get()) == 0) return Fail(ErrorCode::kNotFound, "no image with id " + id);
  auto current = ReadRecord(found->get(), 0);
  if (!current) return current;
  if (deleted_is_done && current->status == ImageStatus::kDeleted) return current;
  return Fail(ErrorCode::kConflict,
              "image " + id + " is " + std::string(StatusName(current->status)));
}

common::Result<ImageRecord> PostgresRecordStore::MarkReady(std::string_view id,
                                                           const ImageFacts& facts) {
  return SetFacts(kMarkReady, id, facts);
}

common::Result<ImageRecord> PostgresRecordStore::MarkChecked(std::string_view id,
                                                             const ImageFacts& facts) {
  return SetFacts(kMarkChecked, id, facts);
}

common::Result<ImageRecord> PostgresRecordStore::SetFacts(const char* sql, std::string_view id,
                                                          const ImageFacts& facts) {
  if (auto r = ValidateId(id); !r) return std::unexpected(r.error());
  if (auto r = ValidateFacts(facts); !r) return std::unexpected(r.error());
  return Update(sql,
                {std::string(id), facts.format, std::to_string(facts.width),
                 std::to_string(facts.height), std::to_string(facts.bytes), facts.sha256},
                /*deleted_is_done=*/false);
}

common::Result<ImageRecord> PostgresRecordStore::MarkFailed(std::string_view id,
                                                            std::string_view error) {
  if (auto r = ValidateId(id); !r) return std::unexpected(r.error());
  return Update(kMarkFailed, {std::string(id), CleanError(error)}, /*deleted_is_done=*/false);
}

common::Result<ImageRecord> PostgresRecordStore::SetVariants(std::string_view id,
                                                             const std::vector<Variant>& variants) {
  if (auto r = ValidateId(id); !r) return std::unexpected(r.error());
  if (auto r = ValidateVariants(variants); !r) return std::unexpected(r.error());
  return Update(kSetVariants, {std::string(id), SerializeVariants(variants)},
                /*deleted_is_done=*/false);
}

common::Result<ImageRecord> PostgresRecordStore::MarkDeleted(std::string_view id) {
  if (auto r = ValidateId(id); !r) return std::unexpected(r.error());
  return Update(kMarkDeleted, {std::string(id)}, /*deleted_is_done=*/true);
}

}  // namespace imgorigin::ingest
