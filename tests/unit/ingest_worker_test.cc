// Worker (ingest/worker.h) over the embedded SQLite queue: handlers by kind, acks, retries with
// backoff until max_attempts, dead letters and on_buried, the heartbeat that keeps a long job
// from being taken over, and a Stop() that lets the jobs in hand finish.
#include "ingest/worker.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "ingest/sqlite_job_queue.h"

namespace imgorigin::ingest {
namespace {

using namespace std::chrono_literals;
using common::Error;
using common::ErrorCode;

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("imgorigin-worker-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    auto queue = SqliteJobQueue::Open({.path = (dir_ / "jobs.sqlite3").string(), .queue = "jobs"});
    ASSERT_TRUE(queue.has_value()) << queue.error().message;
    queue_ = *std::move(queue);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Polls `done` for at most 10 s.
  static bool Eventually(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }

  Worker::Config Fast() const {
    return Worker::Config{.threads = 2,
                          .visibility = 1s,
                          .max_attempts = 3,
                          .backoff_base = 10ms,
                          .backoff_max = 50ms,
                          .poll_wait = 100ms,
                          .priority = {}};
  }

  std::filesystem::path dir_;
  std::unique_ptr<SqliteJobQueue> queue_;
};

TEST_F(WorkerTest, HandlesEachJobByItsKindAndAcksIt) {
  std::mutex mu;
  std::vector<std::string> seen;
  Worker worker(Fast(), *queue_,
                {{"a", [&](const Job& job) -> common::Result<void> {
                    std::lock_guard lock(mu);
                    seen.push_back("a:" + job.payload);
                    return {};
                  }},
                 {"b", [&](const Job& job) -> common::Result<void> {
                    std::lock_guard lock(mu);
                    seen.push_back("b:" + job.payload);
                    return {};
                  }}});
  ASSERT_TRUE(queue_->Enqueue({.kind = "a", .payload = "1"}));
  ASSERT_TRUE(queue_->Enqueue({.kind = "b", .payload = "2"}));
  worker.Start();
  ASSERT_TRUE(Eventually([&] { return worker.counts().succeeded == 2; }));
  worker.Stop();
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"a:1", "b:2"}));
  auto stats = queue_->Stats();
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->ready + stats->delayed + stats->in_flight + stats->dead, 0);
}

TEST_F(WorkerTest, RetriesWithTheErrorThenSucceeds) {
  std::atomic<int> calls{0};
  std::string last_error_seen;
  Worker worker(Fast(), *queue_,
                {{"flaky", [&](const Job& job) -> common::Result<void> {
                    if (++calls < 3) {
                      return std::unexpected(Error{ErrorCode::kUnavailable, "try " + std::to_string(job.attempt)});
                    }
                    last_error_seen = job.last_error;
                    EXPECT_EQ(job.attempt, 3);
                    return {};
                  }}});
  ASSERT_TRUE(queue_->Enqueue({.kind = "flaky", .payload = ""}));
  worker.Start();
  ASSERT_TRUE(Eventually([&] { return worker.counts().succeeded == 1; }));
  worker.Stop();
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(worker.counts().retried, 2u);
  EXPECT_EQ(last_error_seen, "try 2");
}

TEST_F(WorkerTest, BuriesAfterMaxAttemptsAndTellsOnBuried) {
  std::atomic<int> calls{0};
  std::mutex mu;
  std::vector<std::string> buried;
  Worker worker(
      Fast(), *queue_,
      {{"poison", [&](const Job&) -> common::Result<void> {
          ++calls;
          return std::unexpected(Error{ErrorCode::kInvalidImage, "not an image"});
        }}},
      [&](const Job& job, const Error& error) {
        std::lock_guard lock(mu);
        buried.push_back(job.payload + ": " + error.message);
      });
  ASSERT_TRUE(queue_->Enqueue({.kind = "poison", .payload = "p"}));
  worker.Start();
  ASSERT_TRUE(Eventually([&] { return worker.counts().buried == 1; }));
  worker.Stop();
  EXPECT_EQ(calls, 3);  // max_attempts
  EXPECT_EQ(buried, (std::vector<std::string>{"p: not an image"}));
  auto dead = queue_->ListDead("", 10);
  ASSERT_TRUE(dead.has_value());
  ASSERT_EQ(dead->letters.size(), 1u);
  EXPECT_EQ(dead->letters[0].error, "not an image");
  EXPECT_EQ(dead->letters[0].attempts, 3);
}

TEST_F(WorkerTest, AJobOfAnUnknownKindIsBuriedAtOnce) {
  Worker worker(Fast(), *queue_, {});
  ASSERT_TRUE(queue_->Enqueue({.kind = "mystery", .payload = ""}));
  worker.Start();
  ASSERT_TRUE(Eventually([&] { return worker.counts().buried == 1; }));
  worker.Stop();
  auto dead = queue_->ListDead("", 10);
  ASSERT_TRUE(dead.has_value());
  ASSERT_EQ(dead->letters.size(), 1u);
  EXPECT_EQ(dead->letters[0].attempts, 1);
  EXPECT_NE(dead->letters[0].error.find("mystery"), std::string::npos);
}

// A job that runs three times its visibility is still this worker's: the heartbeat extended it,
// so a second worker on the same queue never receives it, and it is handled once.
TEST_F(WorkerTest, TheHeartbeatKeepsALongJobFromBeingTakenOver) {
  std::atomic<int> calls{0};
  auto slow = [&](const Job&) -> common::Result<void> {
    ++calls;
    std::this_thread::sleep_for(3s);
    return {};
  };
  Worker::Config one = Fast();
  one.threads = 1;
  Worker first(one, *queue_, {{"slow", slow}});
  Worker second(one, *queue_, {{"slow", slow}});
  ASSERT_TRUE(queue_->Enqueue({.kind = "slow", .payload = ""}));
  first.Start();
  ASSERT_TRUE(Eventually([&] { return calls == 1; }));
  second.Start();
  ASSERT_TRUE(Eventually([&] { return first.counts().succeeded == 1; }));
  first.Stop();
  second.Stop();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(second.counts().succeeded, 0u);
}

// Stop() while a job runs: the job finishes and is acked, nothing is left in flight.
TEST_F(WorkerTest, StopLetsTheJobsInHandFinish) {
  std::atomic<bool> started{false};
  Worker worker(Fast(), *queue_,
                {{"job", [&](const Job&) -> common::Result<void> {
                    started = true;
                    std::this_thread::sleep_for(500ms);
                    return {};
                  }}});
  ASSERT_TRUE(queue_->Enqueue({.kind = "job", .payload = ""}));
  worker.Start();
  ASSERT_TRUE(Eventually([&] { return started.load(); }));
  worker.Stop();
  EXPECT_EQ(worker.counts().succeeded, 1u);
  auto stats = queue_->Stats();
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->in_flight, 0);
  EXPECT_EQ(stats->ready, 0);
}

TEST(WorkerBackoff, DoublesPerAttemptWithJitterInTheSecondHalfAndIsCapped) {
  Worker::Config config{.backoff_base = 1000ms, .backoff_max = 10'000ms};
  EXPECT_EQ(Worker::Backoff(config, 1, 0.0), 500ms);
  EXPECT_EQ(Worker::Backoff(config, 1, 1.0), 1000ms);
  EXPECT_EQ(Worker::Backoff(config, 3, 0.0), 2000ms);
  EXPECT_EQ(Worker::Backoff(config, 3, 1.0), 4000ms);
  EXPECT_EQ(Worker::Backoff(config, 10, 1.0), 10'000ms);
  EXPECT_EQ(Worker::Backoff(config, 1000, 0.5), 7500ms);  // no overflow past the cap
  config.backoff_max = 3600'000ms;                        // longer than a queue can delay
  EXPECT_EQ(Worker::Backoff(config, 30, 1.0), std::chrono::milliseconds(kMaxDelay));
}

TEST(WorkerConfig, RefusesOutOfRangeSettings) {
  EXPECT_TRUE(Worker::Config{}.Validate());
  EXPECT_FALSE(Worker::Config{.threads = 0}.Validate());
  EXPECT_FALSE(Worker::Config{.visibility = 0s}.Validate());
  EXPECT_FALSE(Worker::Config{.max_attempts = 0}.Validate());
  EXPECT_FALSE((Worker::Config{.backoff_base = 5000ms, .backoff_max = 1000ms}.Validate()));
  EXPECT_FALSE(Worker::Config{.poll_wait = 21s}.Validate());
}

}  // namespace
}  // namespace imgorigin::ingest
