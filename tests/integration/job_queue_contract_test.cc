// The JobQueue contract (ingest/job_queue.h, tests/integration/job_queue_contract.h), one suite
// run against every backend: SQLite on a temp file and a real redis-server started by the
// harness here; the SQS backend instantiates it from its own file. Then what only one backend
// has: SQLite's file kept across a restart (shared with the record store), and a Redis that dies.
//
// Visibilities are 1 s, the least the contract allows, so the waits for a job to come back are
// the shortest that can show it.
#include "tests/integration/job_queue_contract.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "ingest/redis_job_queue.h"
#include "ingest/sqlite_job_queue.h"
#include "ingest/sqlite_record_store.h"
#include "tests/integration/harness.h"

namespace imgorigin::testing {
namespace {

using common::ErrorCode;
using ingest::DeadLetterPage;
using ingest::Job;
using ingest::JobQueue;
using ingest::NewJob;
using ingest::QueueStats;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr seconds kVisibility{1};

template <typename T>
void ExpectCode(const common::Result<T>& r, ErrorCode code) {
  ASSERT_FALSE(r.has_value()) << "expected an error";
  EXPECT_EQ(r.error().code, code) << r.error().message;
}

std::string Put(JobQueue& q, const NewJob& job) {
  auto id = q.Enqueue(job);
  if (!id) {
    ADD_FAILURE() << "Enqueue: " << id.error().message;
    return "";
  }
  EXPECT_FALSE(id->empty());
  return *id;
}

std::string Put(JobQueue& q, const std::string& payload) {
  return Put(q, NewJob{.kind = "eager", .payload = payload});
}

std::vector<Job> Take(JobQueue& q, int max = ingest::kMaxReceiveBatch,
                      milliseconds wait = milliseconds(0)) {
  auto jobs = q.Receive(max, wait, kVisibility);
  if (!jobs) {
    ADD_FAILURE() << "Receive: " << jobs.error().message;
    return {};
  }
  return *std::move(jobs);
}

QueueStats StatsOf(JobQueue& q) {
  auto stats = q.Stats();
  if (!stats) {
    ADD_FAILURE() << "Stats: " << stats.error().message;
    return {};
  }
  return *stats;
}

void ExpectStats(JobQueue& q, int64_t ready, int64_t delayed, int64_t in_flight, int64_t dead) {
  const QueueStats s = StatsOf(q);
  EXPECT_EQ(s.ready, ready);
  EXPECT_EQ(s.delayed, delayed);
  EXPECT_EQ(s.in_flight, in_flight);
  EXPECT_EQ(s.dead, dead);
}

milliseconds Since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

// Every byte value, NULs included, up to the largest payload.
std::string BinaryPayload() {
  std::string out(ingest::kMaxJobPayloadBytes, '\0');
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>((i * 7 + i / 256) & 0xff);
  return out;
}

}  // namespace

void JobQueueContract::SetUp() {
  queue_ = OpenFresh();
  if (!queue_ && !HasFailure()) GTEST_SKIP() << "backend " << GetParam().name << " unavailable";
}

std::unique_ptr<JobQueue> JobQueueContract::OpenFresh() {
  static int opened = 0;
  const std::string name = "contract-" + std::to_string(getpid()) + "-" + std::to_string(++opened);
  auto queue = GetParam().open(name);
  if (queue) return *std::move(queue);
  if (InCi()) ADD_FAILURE() << GetParam().name << ": " << queue.error().message;
  return nullptr;
}

namespace {

TEST_P(JobQueueContract, EnqueueReceiveAck) {
  const std::string id = Put(*queue_, NewJob{.kind = "notify.v1", .payload = R"({"image":"a"})"});
  auto jobs = Take(*queue_);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].id, id);
  EXPECT_EQ(jobs[0].kind, "notify.v1");
  EXPECT_EQ(jobs[0].payload, R"({"image":"a"})");
  EXPECT_EQ(jobs[0].attempt, 1);
  EXPECT_EQ(jobs[0].last_error, "");
  EXPECT_FALSE(jobs[0].handle.empty());
  ExpectStats(*queue_, 0, 0, 1, 0);

  EXPECT_TRUE(Take(*queue_).empty()) << "a job in flight is hidden";
  ASSERT_TRUE(queue_->Ack(jobs[0]));
  ExpectStats(*queue_, 0, 0, 0, 0);
  EXPECT_TRUE(Take(*queue_).empty());
}

TEST_P(JobQueueContract, RedeliveredAfterVisibilityAndStaleHandleConflicts) {
  const std::string id = Put(*queue_, "x");
  auto first = Take(*queue_);
  ASSERT_EQ(first.size(), 1u);
  const auto received = Clock::now();
  EXPECT_TRUE(Take(*queue_).empty());

  auto again = Take(*queue_, 1, milliseconds(5000));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_GE(Since(received), milliseconds(900));
  EXPECT_EQ(again[0].id, id);
  EXPECT_EQ(again[0].attempt, 2);
  EXPECT_EQ(again[0].payload, "x");
  EXPECT_NE(again[0].handle, first[0].handle);

  // The first worker wakes up late: nothing it does counts any more.
  ExpectCode(queue_->Ack(first[0]), ErrorCode::kConflict);
  ExpectCode(queue_->Extend(first[0], seconds(30)), ErrorCode::kConflict);
  ExpectCode(queue_->Retry(first[0], milliseconds(0), "late"), ErrorCode::kConflict);
  ExpectCode(queue_->Bury(first[0], "late"), ErrorCode::kConflict);
  ExpectStats(*queue_, 0, 0, 1, 0);
  EXPECT_TRUE(Take(*queue_).empty());
  ASSERT_TRUE(queue_->Ack(again[0]));
  ExpectStats(*queue_, 0, 0, 0, 0);
}

TEST_P(JobQueueContract, ExtendKeepsTheJobHiddenPastItsFirstVisibility) {
  Put(*queue_, "long");
  auto jobs = Take(*queue_);
  ASSERT_EQ(jobs.size(), 1u);
  const auto received = Clock::now();
  std::this_thread::sleep_for(milliseconds(500));
  ASSERT_TRUE(queue_->Extend(jobs[0], seconds(2)));
  std::this_thread::sleep_for(milliseconds(1000) - Since(received) + milliseconds(300));
  EXPECT_TRUE(Take(*queue_).empty()) << "hidden past the first visibility";
  ExpectStats(*queue_, 0, 0, 1, 0);

  auto again = Take(*queue_, 1, milliseconds(5000));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_GE(Since(received), milliseconds(2300));
  EXPECT_EQ(again[0].attempt, 2);
  ASSERT_TRUE(queue_->Ack(again[0]));
}

TEST_P(JobQueueContract, RetryWithDelayCarriesTheError) {
  const std::string id = Put(*queue_, "r");
  auto jobs = Take(*queue_);
  ASSERT_EQ(jobs.size(), 1u);
  ASSERT_TRUE(queue_->Retry(jobs[0], milliseconds(1000), "upstream 503"));
  const auto retried = Clock::now();
  EXPECT_TRUE(Take(*queue_).empty()) << "not before its delay";
  ExpectStats(*queue_, 0, 1, 0, 0);

  auto second = Take(*queue_, 1, milliseconds(5000));
  ASSERT_EQ(second.size(), 1u);
  EXPECT_GE(Since(retried), milliseconds(900));
  EXPECT_EQ(second[0].id, id);
  EXPECT_EQ(second[0].attempt, 2);
  EXPECT_EQ(second[0].last_error, "upstream 503");
  EXPECT_EQ(second[0].payload, "r");

  // No delay: back at once; the error is kept as CleanJobError makes it.
  ASSERT_TRUE(queue_->Retry(second[0], milliseconds(0), "two\nlines"));
  auto third = Take(*queue_);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].attempt, 3);
  EXPECT_EQ(third[0].last_error, "two lines");
  ASSERT_TRUE(queue_->Ack(third[0]));
}

TEST_P(JobQueueContract, BuryListRedrivePurge) {
  for (int i = 0; i < 5; ++i) Put(*queue_, "p" + std::to_string(i));
  auto jobs = Take(*queue_, 5);
  ASSERT_EQ(jobs.size(), 5u);
  for (const Job& job : jobs) ASSERT_TRUE(queue_->Bury(job, "bad " + job.payload));
  ExpectStats(*queue_, 0, 0, 0, 5);
  EXPECT_TRUE(Take(*queue_).empty());

  // Three pages of at most two, oldest first, the cursor going on where the last one stopped.
  std::vector<ingest::DeadLetter> all;
  std::string after;
  for (int page = 0; page < 3; ++page) {
    auto got = queue_->ListDead(after, 2);
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->letters.size(), page < 2 ? 2u : 1u);
    EXPECT_EQ(got->next_after.empty(), page == 2);
    for (auto& letter : got->letters) all.push_back(letter);
    after = got->next_after;
  }
  ASSERT_EQ(all.size(), 5u);
  std::set<std::string> ids;
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].payload, jobs[i].payload) << "buried in this order";
    EXPECT_EQ(all[i].kind, "eager");
    EXPECT_EQ(all[i].attempts, 1);
    EXPECT_EQ(all[i].error, "bad " + jobs[i].payload);
    EXPECT_LT(std::chrono::abs(ingest::JobClock::now() - all[i].buried_at), seconds(60));
    ids.insert(all[i].id);
  }
  EXPECT_EQ(ids.size(), 5u);

  auto redriven = queue_->Redrive({all[0].id});
  ASSERT_TRUE(redriven) << redriven.error().message;
  EXPECT_EQ(*redriven, 1);
  auto purged = queue_->Purge({all[1].id});
  ASSERT_TRUE(purged) << purged.error().message;
  EXPECT_EQ(*purged, 1);
  // All or nothing: one id gone, so the other stays dead too.
  ExpectCode(queue_->Redrive({all[2].id, all[1].id}), ErrorCode::kNotFound);
  ExpectCode(queue_->Purge({all[1].id}), ErrorCode::kNotFound);
  ExpectStats(*queue_, 1, 0, 0, 3);

  auto back = Take(*queue_);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].payload, all[0].payload);
  EXPECT_EQ(back[0].attempt, 1) << "a redriven job starts over";
  EXPECT_EQ(back[0].last_error, "");
  ASSERT_TRUE(queue_->Ack(back[0]));

  redriven = queue_->Redrive({});  // all: letters 2, 3 and 4
  ASSERT_TRUE(redriven) << redriven.error().message;
  EXPECT_EQ(*redriven, 3);
  back = Take(*queue_);
  ASSERT_EQ(back.size(), 3u);
  for (const Job& job : back) ASSERT_TRUE(queue_->Bury(job, "again"));
  purged = queue_->Purge({});
  ASSERT_TRUE(purged) << purged.error().message;
  EXPECT_EQ(*purged, 3);
  ExpectStats(*queue_, 0, 0, 0, 0);
  auto empty = queue_->ListDead("", 10);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->letters.empty());
  EXPECT_TRUE(empty->next_after.empty());
}

TEST_P(JobQueueContract, QueuesOfDifferentNamesAreIsolated) {
  auto other = OpenFresh();
  ASSERT_TRUE(other);
  Put(*queue_, "mine");
  EXPECT_TRUE(Take(*other).empty());
  ExpectStats(*other, 0, 0, 0, 0);
  Put(*other, "theirs");
  auto mine = Take(*queue_);
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].payload, "mine");
  ASSERT_TRUE(queue_->Bury(mine[0], "dead here"));
  auto their_dead = other->ListDead("", 10);
  ASSERT_TRUE(their_dead);
  EXPECT_TRUE(their_dead->letters.empty());
  ExpectStats(*other, 1, 0, 0, 0);
  auto theirs = Take(*other);
  ASSERT_EQ(theirs.size(), 1u);
  EXPECT_EQ(theirs[0].payload, "theirs");
  // A handle from one queue means nothing to the other.
  EXPECT_FALSE(queue_->Ack(theirs[0]));
  ASSERT_TRUE(other->Ack(theirs[0]));
}

TEST_P(JobQueueContract, DelayOnEnqueue) {
  const auto enqueued = Clock::now();
  Put(*queue_, NewJob{.kind = "eager", .payload = "later", .delay = milliseconds(1000)});
  EXPECT_TRUE(Take(*queue_).empty());
  ExpectStats(*queue_, 0, 1, 0, 0);
  auto jobs = Take(*queue_, 1, milliseconds(5000));
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_GE(Since(enqueued), milliseconds(900));
  EXPECT_EQ(jobs[0].payload, "later");
  EXPECT_EQ(jobs[0].attempt, 1);
}

TEST_P(JobQueueContract, ReceiveWaitReturnsAsSoonAsAJobArrives) {
  std::thread producer([&] {
    std::this_thread::sleep_for(milliseconds(300));  // the job comes while Receive waits
    Put(*queue_, "arrived");
  });
  const auto start = Clock::now();
  auto jobs = Take(*queue_, 1, milliseconds(10000));
  const auto took = Since(start);
  producer.join();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].payload, "arrived");
  EXPECT_LT(took, milliseconds(2000)) << "woken by the job, not by the end of the wait";
}

TEST_P(JobQueueContract, ReceiveWaitReturnsEmptyAfterTheWait) {
  const auto start = Clock::now();
  EXPECT_TRUE(Take(*queue_, 1, milliseconds(400)).empty());
  EXPECT_GE(Since(start), milliseconds(390));
  EXPECT_LT(Since(start), milliseconds(2000));
}

TEST_P(JobQueueContract, ReceiveTakesAtMostTheBatch) {
  for (int i = 0; i < 12; ++i) Put(*queue_, std::to_string(i));
  auto three = Take(*queue_, 3);
  EXPECT_EQ(three.size(), 3u);
  auto ten = Take(*queue_, 10);
  EXPECT_EQ(ten.size(), 9u);
  std::set<std::string> ids;
  for (const auto* batch : {&three, &ten}) {
    for (const Job& job : *batch) {
      ids.insert(job.id);
      ASSERT_TRUE(queue_->Ack(job));
    }
  }
  EXPECT_EQ(ids.size(), 12u);
  ExpectStats(*queue_, 0, 0, 0, 0);
}

TEST_P(JobQueueContract, ConcurrentReceiversTakeEachJobOnce) {
  constexpr int kJobs = 40;
  for (int i = 0; i < kJobs; ++i) Put(*queue_, std::to_string(i));
  std::mutex mu;
  std::multiset<std::string> taken;
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      for (int round = 0; round < kJobs; ++round) {  // bounded: each round takes one job or ends
        auto jobs = Take(*queue_, 3);
        if (jobs.empty()) return;
        for (const Job& job : jobs) {
          EXPECT_TRUE(queue_->Ack(job)) << job.id;
          std::lock_guard lock(mu);
          taken.insert(job.id);
        }
      }
    });
  }
  for (auto& worker : workers) worker.join();
  EXPECT_EQ(taken.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(std::set<std::string>(taken.begin(), taken.end()).size(), taken.size())
      << "no job delivered twice";
  ExpectStats(*queue_, 0, 0, 0, 0);
}

TEST_P(JobQueueContract, PayloadBytesRoundTripExactly) {
  const std::string payload = BinaryPayload();
  Put(*queue_, payload);
  Put(*queue_, "");
  auto jobs = Take(*queue_);
  ASSERT_EQ(jobs.size(), 2u);
  const Job& big = jobs[0].payload.empty() ? jobs[1] : jobs[0];
  EXPECT_TRUE(big.payload == payload) << "payload changed on the way";
  EXPECT_EQ((jobs[0].payload.empty() ? jobs[0] : jobs[1]).payload, "");
  ASSERT_TRUE(queue_->Bury(big, "keep"));
  auto dead = queue_->ListDead("", 1);
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->letters.size(), 1u);
  EXPECT_TRUE(dead->letters[0].payload == payload);
  ASSERT_TRUE(queue_->Redrive({}));
  auto back = Take(*queue_, 1);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_TRUE(back[0].payload == payload);
}

TEST_P(JobQueueContract, BadArgumentsAreInvalid) {
  JobQueue& q = *queue_;
  ExpectCode(q.Enqueue({.kind = "", .payload = "x"}), ErrorCode::kInvalidArgument);
  ExpectCode(q.Enqueue({.kind = "Bad Kind", .payload = "x"}), ErrorCode::kInvalidArgument);
  ExpectCode(
      q.Enqueue({.kind = "eager", .payload = std::string(ingest::kMaxJobPayloadBytes + 1, 'x')}),
      ErrorCode::kInvalidArgument);
  ExpectCode(
      q.Enqueue({.kind = "eager", .payload = "", .delay = ingest::kMaxDelay + milliseconds(1)}),
      ErrorCode::kInvalidArgument);
  ExpectCode(q.Receive(0, milliseconds(0), kVisibility), ErrorCode::kInvalidArgument);
  ExpectCode(q.Receive(ingest::kMaxReceiveBatch + 1, milliseconds(0), kVisibility),
             ErrorCode::kInvalidArgument);
  ExpectCode(q.Receive(1, seconds(21), kVisibility), ErrorCode::kInvalidArgument);
  ExpectCode(q.Receive(1, milliseconds(0), seconds(0)), ErrorCode::kInvalidArgument);
  ExpectCode(q.ListDead("", 0), ErrorCode::kInvalidArgument);
  ExpectCode(q.ListDead("not a cursor", 10), ErrorCode::kInvalidArgument);
  ExpectCode(q.Redrive({"not an id"}), ErrorCode::kInvalidArgument);
  ExpectCode(q.Purge(std::vector<std::string>(ingest::kMaxDeadLetterPage + 1, "1")),
             ErrorCode::kInvalidArgument);
  const Job forged{.id = "1", .kind = "eager", .payload = "", .handle = "not a handle"};
  ExpectCode(q.Ack(forged), ErrorCode::kInvalidArgument);
  ExpectCode(q.Bury(forged, "x"), ErrorCode::kInvalidArgument);

  // A real delivery refuses bad bounds too, and stays held.
  Put(q, "held");
  auto jobs = Take(q);
  ASSERT_EQ(jobs.size(), 1u);
  ExpectCode(q.Extend(jobs[0], seconds(0)), ErrorCode::kInvalidArgument);
  ExpectCode(q.Extend(jobs[0], ingest::kMaxVisibility + seconds(1)), ErrorCode::kInvalidArgument);
  ExpectCode(q.Retry(jobs[0], milliseconds(-1), "x"), ErrorCode::kInvalidArgument);
  ExpectStats(q, 0, 0, 1, 0);
  ASSERT_TRUE(q.Ack(jobs[0]));
}

TEST_P(JobQueueContract, StatsCountEveryState) {
  for (int i = 0; i < 3; ++i) Put(*queue_, "ready");
  Put(*queue_, NewJob{.kind = "eager", .payload = "delayed", .delay = seconds(60)});
  ExpectStats(*queue_, 3, 1, 0, 0);
  auto jobs = Take(*queue_, 2);
  ASSERT_EQ(jobs.size(), 2u);
  ExpectStats(*queue_, 1, 1, 2, 0);
  ASSERT_TRUE(queue_->Bury(jobs[0], "dead"));
  ASSERT_TRUE(queue_->Retry(jobs[1], seconds(60), "later"));
  ExpectStats(*queue_, 1, 2, 0, 1);
}

// --- Backends ---------------------------------------------------------------------------------

JobQueueBackend SqliteBackend() {
  return {"Sqlite", [](const std::string& queue) -> common::Result<std::unique_ptr<JobQueue>> {
            // One file per test process: every queue shares it, as the queues of one imgorigin do.
            static const std::string path = MakeTempDir() + "/queue.sqlite3";
            auto q = ingest::SqliteJobQueue::Open({.path = path, .queue = queue});
            if (!q) return std::unexpected(q.error());
            return std::unique_ptr<JobQueue>(*std::move(q));
          }};
}

// One server per test process (CTest runs every test in its own process).
RedisProcess& SharedRedis() {
  static RedisProcess server;
  return server;
}

JobQueueBackend RedisBackend() {
  return {"Redis", [](const std::string& queue) -> common::Result<std::unique_ptr<JobQueue>> {
            RedisProcess& redis = SharedRedis();
            if (!redis.started()) return common::Fail(ErrorCode::kUnavailable, redis.error());
            auto q = ingest::RedisJobQueue::Create({.url = redis.url(), .queue = queue});
            if (!q) return std::unexpected(q.error());
            return std::unique_ptr<JobQueue>(*std::move(q));
          }};
}

INSTANTIATE_TEST_SUITE_P(Embedded, JobQueueContract,
                         ::testing::Values(SqliteBackend(), RedisBackend()),
                         [](const auto& info) { return info.param.name; });

// --- What one backend has alone ---------------------------------------------------------------

TEST(SqliteJobQueue, KeepsReadyDelayedAndDeadJobsAcrossARestartInTheRecordsFile) {
  const std::string path = MakeTempDir() + "/records.sqlite3";
  auto records = ingest::SqliteRecordStore::Open({.path = path});
  ASSERT_TRUE(records) << records.error().message;
  auto open = [&] { return ingest::SqliteJobQueue::Open({.path = path, .queue = "jobs"}); };
  {
    auto q = open();
    ASSERT_TRUE(q) << q.error().message;
    Put(**q, "dead");
    Put(**q, "in flight");
    auto jobs = Take(**q, 2);
    ASSERT_EQ(jobs.size(), 2u);
    ASSERT_EQ(jobs[0].payload, "dead");
    ASSERT_TRUE((*q)->Bury(jobs[0], "gave up"));
    Put(**q, "ready");
    Put(**q, NewJob{.kind = "eager", .payload = "delayed", .delay = seconds(600)});
    ExpectStats(**q, 1, 1, 1, 1);
  }
  auto q = open();
  ASSERT_TRUE(q) << q.error().message;
  ExpectStats(**q, 1, 1, 1, 1);
  auto jobs = Take(**q);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].payload, "ready");
  auto dead = (*q)->ListDead("", 10);
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->letters.size(), 1u);
  EXPECT_EQ(dead->letters[0].payload, "dead");
  EXPECT_EQ(dead->letters[0].error, "gave up");

  // The record store still opens the file the queue migrated, and its tables are its own.
  records->reset();
  auto reopened = ingest::SqliteRecordStore::Open({.path = path});
  ASSERT_TRUE(reopened) << reopened.error().message;
  auto page = (*reopened)->List("", 10);
  ASSERT_TRUE(page);
  EXPECT_TRUE(page->records.empty());
}

TEST(RedisJobQueue, ADeadRedisIsUnavailableQuicklyNotAHang) {
  RedisProcess redis;
  IMGORIGIN_REQUIRE_SERVICE(redis);
  auto q = ingest::RedisJobQueue::Create({.url = redis.url(), .queue = "jobs"});
  ASSERT_TRUE(q) << q.error().message;
  Put(**q, "before");
  auto jobs = Take(**q);
  ASSERT_EQ(jobs.size(), 1u);

  redis.Kill();
  auto start = Clock::now();
  ExpectCode((*q)->Enqueue({.kind = "eager", .payload = "after"}), ErrorCode::kUnavailable);
  ExpectCode((*q)->Receive(1, milliseconds(5000), kVisibility), ErrorCode::kUnavailable);
  ExpectCode((*q)->Ack(jobs[0]), ErrorCode::kUnavailable);
  ExpectCode((*q)->Stats(), ErrorCode::kUnavailable);
  EXPECT_LT(Since(start), milliseconds(3000)) << "each call fails within its timeouts";
}

TEST(RedisJobQueue, AWaitingReceiveDoesNotHoldUpOtherCalls) {
  RedisProcess redis;
  IMGORIGIN_REQUIRE_SERVICE(redis);
  auto q = ingest::RedisJobQueue::Create({.url = redis.url(), .queue = "jobs"});
  ASSERT_TRUE(q) << q.error().message;
  std::thread waiter([&] { EXPECT_TRUE(Take(**q, 1, milliseconds(1500)).empty()); });
  // Time for the waiter to block in Redis; were it not blocked yet, the test would pass without
  // showing anything, never fail wrongly.
  std::this_thread::sleep_for(milliseconds(100));
  const auto start = Clock::now();
  ExpectStats(**q, 0, 0, 0, 0);
  EXPECT_LT(Since(start), milliseconds(500));
  waiter.join();
}

}  // namespace
}  // namespace imgorigin::testing
