// The embedded job queue (job_queue.h): rows in an SQLite file, nothing to install or run. It is
// meant to share the records' file (SqliteRecordStore) but works on a file of its own as well.
//
// One queue object serves one queue name; the jobs of every name live in one table, the dead
// letters in another, and the queue's schema version in a migration table of its own
// (job_queue_migrations), so the record store's migrations and the queue's never meet.
// A job row carries its attempt count and the time it is hidden until (`visible_ms`): the
// delay of a new or retried job, or the visibility of a delivery. Receive takes the rows whose
// time has come in one UPDATE … RETURNING that also counts the attempt and hides them; the
// handle is "<id>:<attempt>", and a call with a handle counts only while the row is still leased
// at that attempt, so a redelivered job's old handle is kConflict. Times are the wall clock's,
// stored: an in-flight job stays hidden across a restart and comes back when its time is up.
//
// Durability: WAL with synchronous=FULL, so a job whose Enqueue returned, and every change an
// Ack/Retry/Bury returned from, survives a crash or a power cut.
//
// Threads: one connection under a mutex, as in the record store; each call is one short
// statement or transaction. A call waits at most busy_timeout for the mutex and busy_timeout
// for SQLite's lock (another process on the file), then gives kUnavailable, as does a file that
// cannot be written. Receive with a wait does not hold the mutex while it waits: it sleeps on a
// condition variable that this object's Enqueue/Retry/Redrive signal, and looks again at the
// latest after poll_interval (jobs that other processes or other objects on the file add) or when
// the next hidden job's time comes, whichever is first; it never spins. Unbounded: the number of
// jobs and dead letters (the disk bounds them); Redrive/Purge of all dead letters is one
// transaction over all of them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/status.h"
#include "ingest/job_queue.h"
#include "ingest/sqlite_db.h"

namespace imgorigin::ingest {

class SqliteJobQueue final : public JobQueue {
 public:
  struct Config {
    std::string path;   // the database file, e.g. <data dir>/records.sqlite3; no default
    std::string queue;  // the queue's name (ValidateQueueName); no default
    // Longest wait for a lock, as in SqliteRecordStore::Config.
    std::chrono::milliseconds busy_timeout{5000};
    // How often a waiting Receive looks for jobs it was not told about (another process or
    // object on the same file): the delay such a job may see on an idle queue.
    std::chrono::milliseconds poll_interval{250};
    common::Result<void> Validate() const;
  };

  // Creates the file and its directory if missing, switches to WAL and migrates the queue's
  // tables. kUnavailable when the file cannot be created, opened or locked.
  static common::Result<std::unique_ptr<SqliteJobQueue>> Open(Config config);

  common::Result<std::string> Enqueue(const NewJob& job) override;
  common::Result<std::vector<Job>> Receive(int max, std::chrono::milliseconds wait,
                                           std::chrono::seconds visibility) override;
  common::Result<void> Ack(const Job& job) override;
  common::Result<void> Extend(const Job& job, std::chrono::seconds visibility) override;
  common::Result<void> Retry(const Job& job, std::chrono::milliseconds delay,
                             std::string_view error) override;
  common::Result<void> Bury(const Job& job, std::string_view error) override;
  common::Result<DeadLetterPage> ListDead(std::string_view after, int limit) override;
  common::Result<int64_t> Redrive(const std::vector<std::string>& ids) override;
  common::Result<int64_t> Purge(const std::vector<std::string>& ids) override;
  common::Result<QueueStats> Stats() override;

  // Only Open() makes the key, so every queue is migrated before use.
  class PassKey {
    friend class SqliteJobQueue;
    PassKey() = default;
  };
  SqliteJobQueue(PassKey, Config config, sqlite::Db db);

 private:
  struct Statements {
    sqlite::Statement insert;
    sqlite::Statement receive;
    sqlite::Statement next_due;
    sqlite::Statement ack;
    sqlite::Statement extend;
    sqlite::Statement retry;
    sqlite::Statement bury_copy;
    sqlite::Statement list_dead;
    sqlite::Statement redrive_one;
    sqlite::Statement redrive_all;
    sqlite::Statement purge_one;
    sqlite::Statement purge_all;
    sqlite::Statement stats;
  };
  struct Taken {
    std::vector<Job> jobs;
    std::optional<int64_t> next_due_ms;  // when nothing was taken: the next hidden job's time
  };

  common::Result<void> Prepare();
  common::Result<Taken> TakeDue(int max, std::chrono::seconds visibility);
  // Steps `s`, bound with the queue as ?1 and the handle's id and attempt as ?2 and ?3:
  // kConflict when no row matched, that is when the handle's delivery is over.
  common::Result<void> StepHeld(sqlite3_stmt* s);
  // Redrive (copy to the jobs, then delete) or Purge (delete) in one transaction: every id must
  // be there, else kNotFound and nothing changes; no ids means all. Returns how many.
  common::Result<int64_t> ForDeadLetters(const std::vector<std::string>& ids, bool redrive);
  void Wake();

  const Config config_;
  std::timed_mutex mu_;
  sqlite::Db db_;
  Statements statements_;

  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  uint64_t wakes_ = 0;  // under wake_mu_: bumped whenever a job may have become ready
};

}  // namespace imgorigin::ingest
