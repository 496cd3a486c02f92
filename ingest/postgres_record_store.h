// The fleet record store: PostgreSQL (or RDS, Aurora, Cloud SQL …) through libpq, shared by every
// origin node.
//
// Connections live in a small bounded pool: a call borrows one (connecting on demand), runs one
// parameterized statement (migrations aside, no call needs a transaction: each write is a single
// INSERT … ON CONFLICT or UPDATE … RETURNING) and gives it back. A borrowed connection is checked
// first, so connections the server closed while idle (a restart, a failover) are replaced rather
// than failing a call. Every wait is bounded: connecting by connect_timeout, each statement by
// query_timeout (the server cancels it through statement_timeout; the client stops waiting and
// drops the connection, which also covers a server that stopped answering altogether), and a
// free connection by acquire_timeout. All of those give kUnavailable.
//
// The tables live in their own schema (Config::schema), created at Open() when missing, so they
// never meet an application's tables in a shared database. Open() applies the migrations this
// binary knows in one transaction under an advisory lock (nodes starting together migrate once)
// and refuses a schema migrated by a newer imgorigin. Thread-safe (record_store.h).
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/handle.h"
#include "common/status.h"
#include "ingest/record_store.h"

namespace imgorigin::ingest {

class PostgresRecordStore final : public RecordStore {
 public:
  struct Config {
    // A libpq connection string: "host=db port=5432 dbname=images user=imgorigin" or
    // "postgresql://imgorigin@db/images?sslmode=require". The password may be in it or come from
    // PGPASSWORD or ~/.pgpass. Required. Never logged or repeated in errors.
    std::string conninfo;
    // The schema holding imgorigin's tables: a lowercase SQL identifier.
    std::string schema = "imgorigin";
    // Connections this process keeps at most; calls beyond it wait for one.
    size_t max_connections = 8;
    std::chrono::milliseconds connect_timeout{3000};
    std::chrono::milliseconds query_timeout{5000};    // per statement, see above
    std::chrono::milliseconds acquire_timeout{5000};  // wait for a free connection
    common::Result<void> Validate() const;
  };

  // Connects once and migrates: kUnavailable when the server cannot be reached, kInternal when
  // the schema cannot be migrated (no privilege, a newer schema).
  static common::Result<std::unique_ptr<PostgresRecordStore>> Open(Config config);

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

  using Connection = common::Handle<PGconn, PQfinish>;

  // Only Open() makes the key, so every store is migrated before use.
  class PassKey {
    friend class PostgresRecordStore;
    PassKey() = default;
  };
  PostgresRecordStore(PassKey, Config config);

 private:
  class Lease;  // a borrowed connection, given back (or dropped) when it goes out of scope
  using Params = std::vector<std::optional<std::string>>;  // text values; nullopt is NULL

  common::Result<Lease> Acquire();
  void Release(Connection connection, bool healthy);
  common::Result<Connection> Connect();
  common::Result<void> Migrate();
  // Runs an UPDATE … RETURNING; no row means the record is missing or the transition is not
  // allowed, which a second look tells apart.
  common::Result<ImageRecord> Update(const char* sql, const Params& params, bool deleted_is_done);
  // MarkReady and MarkChecked: `sql` takes the id and the facts as $1..$6.
  common::Result<ImageRecord> SetFacts(const char* sql, std::string_view id,
                                       const ImageFacts& facts);

  const Config config_;
  std::mutex mu_;
  std::condition_variable released_;
  std::vector<Connection> idle_;  // guarded by mu_
  size_t open_ = 0;               // idle, borrowed and being connected; guarded by mu_
  bool connect_failing_ = false;  // logs a connection failure once per outage; guarded by mu_
};

}  // namespace imgorigin::ingest
