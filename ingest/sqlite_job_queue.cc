#include "ingest/sqlite_job_queue.h"

#include <algorithm>
#include <charconv>
#include <utility>

namespace imgorigin::ingest {
namespace {

using common::ErrorCode;
using common::Fail;
using sqlite::BindBlob;
using sqlite::BindText;
using sqlite::ColumnBlob;
using sqlite::ColumnText;
using sqlite::InUse;
using sqlite::NowMs;

constexpr std::string_view kSubject = "job queue";

// Written once, applied in order, never edited after release: a change is a new version.
constexpr sqlite::Migration kMigrations[] = {
    {1, R"sql(
      CREATE TABLE queue_jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: an old handle never fits a new job
        queue TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload BLOB NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,   -- deliveries so far
        last_error TEXT NOT NULL DEFAULT '',
        leased INTEGER NOT NULL DEFAULT 0,     -- 1 from a delivery to its Ack/Retry/Bury
        visible_ms INTEGER NOT NULL,           -- hidden until then
        created_ms INTEGER NOT NULL
      );
      CREATE INDEX queue_jobs_due ON queue_jobs (queue, visible_ms, id);
      CREATE TABLE queue_dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload BLOB NOT NULL,
        attempts INTEGER NOT NULL,
        error TEXT NOT NULL,
        buried_ms INTEGER NOT NULL
      );
      CREATE INDEX queue_dead_letters_by_queue ON queue_dead_letters (queue, id);
    )sql"},
};

// Every statement takes the queue as ?1.
constexpr char kInsert[] =
    "INSERT INTO queue_jobs (queue, kind, payload, visible_ms, created_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id";
constexpr char kReceive[] =
    "UPDATE queue_jobs SET attempts = attempts + 1, leased = 1, visible_ms = ?3 WHERE id IN ("
    "SELECT id FROM queue_jobs WHERE queue = ?1 AND visible_ms <= ?2 ORDER BY visible_ms, id "
    "LIMIT ?4) RETURNING id, kind, payload, attempts, last_error";
constexpr char kNextDue[] = "SELECT min(visible_ms) FROM queue_jobs WHERE queue = ?1";
#define IMGORIGIN_HELD "queue = ?1 AND id = ?2 AND attempts = ?3 AND leased = 1"
constexpr char kAck[] = "DELETE FROM queue_jobs WHERE " IMGORIGIN_HELD;
constexpr char kExtend[] = "UPDATE queue_jobs SET visible_ms = ?4 WHERE " IMGORIGIN_HELD;
constexpr char kRetry[] =
    "UPDATE queue_jobs SET visible_ms = ?4, leased = 0, last_error = ?5 WHERE " IMGORIGIN_HELD;
// Bury copies under a transaction, then kAck deletes.
constexpr char kBuryCopy[] =
    "INSERT INTO queue_dead_letters (queue, kind, payload, attempts, error, buried_ms) "
    "SELECT queue, kind, payload, attempts, ?4, ?5 FROM queue_jobs WHERE " IMGORIGIN_HELD;
#undef IMGORIGIN_HELD
constexpr char kListDead[] =
    "SELECT id, kind, payload, attempts, error, buried_ms FROM queue_dead_letters "
    "WHERE queue = ?1 AND id > ?2 ORDER BY id LIMIT ?3";
#define IMGORIGIN_REDRIVE                                                  \
  "INSERT INTO queue_jobs (queue, kind, payload, visible_ms, created_ms) " \
  "SELECT queue, kind, payload, ?2, ?2 FROM queue_dead_letters WHERE queue = ?1"
constexpr char kRedriveOne[] = IMGORIGIN_REDRIVE " AND id = ?3";
constexpr char kRedriveAll[] = IMGORIGIN_REDRIVE " ORDER BY id";
#undef IMGORIGIN_REDRIVE
constexpr char kPurgeOne[] = "DELETE FROM queue_dead_letters WHERE queue = ?1 AND id = ?3";
constexpr char kPurgeAll[] = "DELETE FROM queue_dead_letters WHERE queue = ?1";
constexpr char kStats[] =
    "SELECT coalesce(sum(visible_ms <= ?2), 0), coalesce(sum(visible_ms > ?2 AND leased = 0), 0), "
    "coalesce(sum(visible_ms > ?2 AND leased = 1), 0), "
    "(SELECT count(*) FROM queue_dead_letters WHERE queue = ?1) FROM queue_jobs WHERE queue = ?1";

common::Error Busy() { return {ErrorCode::kUnavailable, "job queue busy: retry later"}; }
common::Error Failed(int rc) { return sqlite::ErrorOf(rc, kSubject); }

template <typename Duration>
int64_t Ms(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// A positive decimal number, the whole of `text`.
std::optional<int64_t> ParseId(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value <= 0) return std::nullopt;
  return value;
}

struct Held {
  int64_t id;
  int64_t attempt;
};

common::Result<Held> ParseHandle(std::string_view handle) {
  const size_t colon = handle.find(':');
  if (colon != handle.npos) {
    auto id = ParseId(handle.substr(0, colon));
    auto attempt = ParseId(handle.substr(colon + 1));
    if (id && attempt) return Held{*id, *attempt};
  }
  return Fail(ErrorCode::kInvalidArgument, "malformed job handle");
}

// The calls that take a handle bind ?1..?3 alike.
void BindHeld(sqlite3_stmt* s, std::string_view queue, const Held& held) {
  BindText(s, 1, queue);
  sqlite3_bind_int64(s, 2, held.id);
  sqlite3_bind_int64(s, 3, held.attempt);
}

common::Result<std::vector<int64_t>> ParseDeadIds(const std::vector<std::string>& ids) {
  if (auto r = ValidateDeadLetterIds(ids); !r) return std::unexpected(r.error());
  std::vector<int64_t> out;
  for (const auto& text : ids) {
    auto id = ParseId(text);
    if (!id) return Fail(ErrorCode::kInvalidArgument, "malformed dead letter id");
    out.push_back(*id);
  }
  std::ranges::sort(out);
  out.erase(std::ranges::unique(out).begin(), out.end());
  return out;
}

common::Result<void> StepDone(sqlite3_stmt* s) {
  if (int rc = sqlite3_step(s); rc != SQLITE_DONE) return std::unexpected(Failed(rc));
  return {};
}

}  // namespace

common::Result<void> SqliteJobQueue::Config::Validate() const {
  if (path.empty()) return Fail(ErrorCode::kInvalidArgument, "SQLite job queue path is empty");
  if (auto r = ValidateQueueName(queue); !r) return r;
  if (busy_timeout.count() <= 0 || poll_interval.count() <= 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "SQLite job queue busy timeout and poll interval must be positive");
  }
  return {};
}

common::Result<std::unique_ptr<SqliteJobQueue>> SqliteJobQueue::Open(Config config) {
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  auto db = sqlite::Open(config.path, config.busy_timeout, kSubject);
  if (!db) return std::unexpected(db.error());
  if (auto r = sqlite::Migrate(db->get(), kMigrations, "job_queue_migrations", kSubject); !r) {
    return std::unexpected(r.error());
  }
  auto queue = std::make_unique<SqliteJobQueue>(PassKey{}, std::move(config), *std::move(db));
  if (auto r = queue->Prepare(); !r) return std::unexpected(r.error());
  return queue;
}

SqliteJobQueue::SqliteJobQueue(PassKey, Config config, sqlite::Db db)
    : config_(std::move(config)), db_(std::move(db)) {}

common::Result<void> SqliteJobQueue::Prepare() {
  std::pair<sqlite::Statement*, const char*> all[] = {
      {&statements_.insert, kInsert},
      {&statements_.receive, kReceive},
      {&statements_.next_due, kNextDue},
      {&statements_.ack, kAck},
      {&statements_.extend, kExtend},
      {&statements_.retry, kRetry},
      {&statements_.bury_copy, kBuryCopy},
      {&statements_.list_dead, kListDead},
      {&statements_.redrive_one, kRedriveOne},
      {&statements_.redrive_all, kRedriveAll},
      {&statements_.purge_one, kPurgeOne},
      {&statements_.purge_all, kPurgeAll},
      {&statements_.stats, kStats},
  };
  for (auto& [slot, sql] : all) {
    auto statement = sqlite::Prepare(db_.get(), sql, kSubject);
    if (!statement) return std::unexpected(statement.error());
    *slot = std::move(*statement);
  }
  return {};
}

void SqliteJobQueue::Wake() {
  {
    std::lock_guard lock(wake_mu_);
    ++wakes_;
  }
  wake_cv_.notify_all();
}

common::Result<std::string> SqliteJobQueue::Enqueue(const NewJob& job) {
  if (auto r = ValidateNewJob(job); !r) return std::unexpected(r.error());
  std::string id;
  {
    std::unique_lock lock(mu_, config_.busy_timeout);
    if (!lock.owns_lock()) return std::unexpected(Busy());
    sqlite3_stmt* s = statements_.insert.get();
    InUse use(s);
    const int64_t now = NowMs();
    BindText(s, 1, config_.queue);
    BindText(s, 2, job.kind);
    BindBlob(s, 3, job.payload);
    sqlite3_bind_int64(s, 4, now + job.delay.count());
    sqlite3_bind_int64(s, 5, now);
    if (int rc = sqlite3_step(s); rc != SQLITE_ROW) return std::unexpected(Failed(rc));
    id = std::to_string(sqlite3_column_int64(s, 0));
    if (auto r = StepDone(s); !r) return std::unexpected(r.error());
  }
  Wake();
  return id;
}

common::Result<SqliteJobQueue::Taken> SqliteJobQueue::TakeDue(int max,
                                                              std::chrono::seconds visibility) {
  std::unique_lock lock(mu_, config_.busy_timeout);
  if (!lock.owns_lock()) return std::unexpected(Busy());
  Taken taken;
  {
    sqlite3_stmt* s = statements_.receive.get();
    InUse use(s);
    const int64_t now = NowMs();
    BindText(s, 1, config_.queue);
    sqlite3_bind_int64(s, 2, now);
    sqlite3_bind_int64(s, 3, now + Ms(visibility));
    sqlite3_bind_int(s, 4, max);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      Job job;
      job.id = std::to_string(sqlite3_column_int64(s, 0));
      job.kind = ColumnText(s, 1);
      job.payload = ColumnBlob(s, 2);
      job.attempt = sqlite3_column_int(s, 3);
      job.last_error = ColumnText(s, 4);
      job.handle = job.id + ":" + std::to_string(job.attempt);
      taken.jobs.push_back(std::move(job));
    }
    if (rc != SQLITE_DONE) return std::unexpected(Failed(rc));
  }
  if (!taken.jobs.empty()) {
    // RETURNING promises no order; ids are the order of arrival.
    std::ranges::sort(taken.jobs, {}, [](const Job& j) { return std::stoll(j.id); });
    return taken;
  }
  sqlite3_stmt* s = statements_.next_due.get();
  InUse use(s);
  BindText(s, 1, config_.queue);
  if (int rc = sqlite3_step(s); rc != SQLITE_ROW) return std::unexpected(Failed(rc));
  if (sqlite3_column_type(s, 0) != SQLITE_NULL) taken.next_due_ms = sqlite3_column_int64(s, 0);
  return taken;
}

common::Result<std::vector<Job>> SqliteJobQueue::Receive(int max, std::chrono::milliseconds wait,
                                                         std::chrono::seconds visibility) {
  if (auto r = ValidateReceive(max, wait, visibility); !r) return std::unexpected(r.error());
  using Clock = std::chrono::steady_clock;
  // Never sooner than this between two looks, should a due job be taken by someone else first.
  constexpr std::chrono::milliseconds kShortestNap{10};
  const auto deadline = Clock::now() + wait;
  while (true) {
    uint64_t seen;
    {
      std::lock_guard lock(wake_mu_);
      seen = wakes_;
    }
    auto taken = TakeDue(max, visibility);
    if (!taken) return std::unexpected(taken.error());
    const auto now = Clock::now();
    if (!taken->jobs.empty() || now >= deadline) return std::move(taken->jobs);
    auto nap = config_.poll_interval;
    if (taken->next_due_ms)
      nap = std::min(nap, std::chrono::milliseconds(*taken->next_due_ms - NowMs()));
    const auto until = std::min(deadline, now + std::max(nap, kShortestNap));
    std::unique_lock lock(wake_mu_);
    wake_cv_.wait_until(lock, until, [&] { return wakes_ != seen; });
  }
}

common::Result<void> SqliteJobQueue::StepHeld(sqlite3_stmt* s) {
  if (auto r = StepDone(s); !r) return r;
  if (sqlite3_changes(db_.get()) == 0) {
    return Fail(ErrorCode::kConflict,
                "the job's delivery is over (acked, retried, buried or delivered again)");
  }
  return {};
}

common::Result<void> SqliteJobQueue::Ack(const Job& job) {
  auto held = ParseHandle(job.handle);
  if (!held) return std::unexpected(held.error());
  std::unique_lock lock(mu_, config_.busy_timeout);
  if (!lock.owns_lock()) return std::unexpected(Busy());
  sqlite3_stmt* s = statements_.ack.get();
  InUse use(s);
  BindHeld(s, config_.queue, *held);
  return StepHeld(s);
}

common::Result<void> SqliteJobQueue::Extend(const Job& job, std::chrono::seconds visibility) {
  if (auto r = ValidateVisibility(visibility); !r) return r;
  auto held = ParseHandle(job.handle);
  if (!held) return std::unexpected(held.error());
  std::unique_lock lock(mu_, config_.busy_timeout);
  if (!lock.owns_lock()) return std::unexpected(Busy());
  sqlite3_stmt* s = statements_.extend.get();
  InUse use(s);
  BindHeld(s, config_.queue, *held);
  sqlite3_bind_int64(s, 4, NowMs() + Ms(visibility));
  return StepHeld(s);
}

common::Result<void> SqliteJobQueue::Retry(const Job& job, std::chrono::milliseconds delay,
                                           std::string_view error) {
  if (auto r = ValidateDelay(delay); !r) return r;
  auto held = ParseHandle(job.handle);
  if (!held) return std::unexpected(held.error());
  {
    std::unique_lock lock(mu_, config_.busy_timeout);
    if (!lock.owns_lock()) return std::unexpected(Busy());
    sqlite3_stmt* s = statements_.retry.get();
    InUse use(s);
    BindHeld(s, config_.queue, *held);
    sqlite3_bind_int64(s, 4, NowMs() + delay.count());
    BindText(s, 5, CleanJobError(error));
    if (auto r = StepHeld(s); !r) return r;
  }
  Wake();
  return {};
}

common::Result<void> SqliteJobQueue::Bury(const Job& job, std::string_view error) {
  auto held = ParseHandle(job.handle);
  if (!held) return std::unexpected(held.error());
  std::unique_lock lock(mu_, config_.busy_timeout);
  if (!lock.owns_lock()) return std::unexpected(Busy());
  if (auto r = sqlite::Exec(db_.get(), "BEGIN IMMEDIATE", kSubject); !r) return r;
  sqlite::Transaction transaction(db_.get(), kSubject);
  {
    sqlite3_stmt* s = statements_.bury_copy.get();
    InUse use(s);
    BindHeld(s, config_.queue, *held);
    BindText(s, 4, CleanJobError(error));
    sqlite3_bind_int64(s, 5, NowMs());
    if (auto r = StepHeld(s); !r) return r;
  }
  sqlite3_stmt* s = statements_.ack.get();
  InUse use(s);
  BindHeld(s, config_.queue, *held);
  if (auto r = StepHeld(s); !r) return r;
  return transaction.Commit();
}

common::Result<DeadLetterPage> SqliteJobQueue::ListDead(std::string_view after, int limit) {
  if (auto r = ValidateDeadLetterPage(limit); !r) return std::unexpected(r.error());
  int64_t after_id = 0;
  if (!after.empty()) {
    auto parsed = ParseId(after);
    if (!parsed) return Fail(ErrorCode::kInvalidArgument, "malformed dead letter cursor");
    after_id = *parsed;
  }
  std::unique_lock lock(mu_, config_.busy_timeout);
  if (!lock.owns_lock()) return std::unexpected(Busy());
  sqlite3_stmt* s = statements_.list_dead.get();
  InUse use(s);
  BindText(s, 1, config_.queue);
  sqlite3_bind_int64(s, 2, after_id);
  sqlite3_bind_int(s, 3, limit + 1);  // one more than asked says whether a next page exists
  DeadLetterPage page;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (static_cast<int>(page.letters.size()) == limit) {
      page.next_after = page.letters.back().id;
      break;
    }
    DeadLetter letter;
    letter.id = std::to_string(sqlite3_column_int64(s, 0));
    letter.kind = ColumnText(s, 1);
    letter.payload = ColumnBlob(s, 2);
    letter.attempts = sqlite3_column_int(s, 3);
    letter.error = ColumnText(s, 4);
    letter.buried_at = JobClock::time_point(std::chrono::milliseconds(sqlite3_column_int64(s, 5)));
    page.letters.push_back(std::move(letter));
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return std::unexpected(Failed(rc));
  return page;
}

common::Result<int64_t> SqliteJobQueue::ForDeadLetters(const std::vector<std::string>& ids,
                                                       bool redrive) {
  auto parsed = ParseDeadIds(ids);
  if (!parsed) return std::unexpected(parsed.error());
  std::unique_lock lock(mu_, config_.busy_timeout);
  if (!lock.owns_lock()) return std::unexpected(Busy());
  if (auto r = sqlite::Exec(db_.get(), "BEGIN IMMEDIATE", kSubject); !r) {
    return std::unexpected(r.error());
  }
  sqlite::Transaction transaction(db_.get(), kSubject);
  const int64_t now = NowMs();
  // Each statement binds the queue, the time and (the *_one ones) the id.
  auto step = [&](sqlite3_stmt* s, std::optional<int64_t> id) -> common::Result<int64_t> {
    InUse use(s);
    BindText(s, 1, config_.queue);
    if (sqlite3_bind_parameter_count(s) >= 2) sqlite3_bind_int64(s, 2, now);
    if (id) sqlite3_bind_int64(s, 3, *id);
    if (auto r = StepDone(s); !r) return std::unexpected(r.error());
    return sqlite3_changes64(db_.get());
  };
  int64_t count = 0;
  if (parsed->empty()) {
    if (redrive) {
      if (auto r = step(statements_.redrive_all.get(), std::nullopt); !r) return r;
    }
    auto deleted = step(statements_.purge_all.get(), std::nullopt);
    if (!deleted) return deleted;
    count = *deleted;
  }
  for (int64_t id : *parsed) {
    if (redrive) {
      if (auto r = step(statements_.redrive_one.get(), id); !r) return r;
    }
    auto deleted = step(statements_.purge_one.get(), id);
    if (!deleted) return deleted;
    if (*deleted == 0) {
      return Fail(ErrorCode::kNotFound, "no dead letter with id " + std::to_string(id));
    }
    ++count;
  }
  if (auto r = transaction.Commit(); !r) return std::unexpected(r.error());
  return count;
}

common::Result<int64_t> SqliteJobQueue::Redrive(const std::vector<std::string>& ids) {
  auto count = ForDeadLetters(ids, /*redrive=*/true);
  if (count && *count > 0) Wake();
  return count;
}

common::Result<int64_t> SqliteJobQueue::Purge(const std::vector<std::string>& ids) {
  return ForDeadLetters(ids, /*redrive=*/false);
}

common::Result<QueueStats> SqliteJobQueue::Stats() {
  std::unique_lock lock(mu_, config_.busy_timeout);
  if (!lock.owns_lock()) return std::unexpected(Busy());
  sqlite3_stmt* s = statements_.stats.get();
  InUse use(s);
  BindText(s, 1, config_.queue);
  sqlite3_bind_int64(s, 2, NowMs());
  if (int rc = sqlite3_step(s); rc != SQLITE_ROW) return std::unexpected(Failed(rc));
  return QueueStats{sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
                    sqlite3_column_int64(s, 2), sqlite3_column_int64(s, 3)};
}

}  // namespace imgorigin::ingest
