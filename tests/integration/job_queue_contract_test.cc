// TEMPORARY (SQS helper): a minimal stand-in for wip-queue's contract suite, so the SQS backend
// can be run before it lands. The lead keeps wip-queue's file instead of this one.
#include <gtest/gtest.h>

#include <thread>

#include "tests/integration/job_queue_contract.h"
#include "tests/integration/node_stub.h"

namespace imgorigin::testing {
namespace {

using namespace std::chrono_literals;
using common::ErrorCode;

std::unique_ptr<ingest::JobQueue> Open(const JobQueueBackend& backend, const std::string& name) {
  auto queue = backend.open(name);
  if (!queue) {
    if (StubsRequired()) ADD_FAILURE() << queue.error().message;
    return nullptr;
  }
  return *std::move(queue);
}

#define OPEN_OR_SKIP(var, name)                              \
  auto var = Open(GetParam(), name);                         \
  if (!var) GTEST_SKIP() << "backend not available"

TEST_P(JobQueueContract, EnqueueReceiveAck) {
  OPEN_OR_SKIP(q, "basic");
  auto id = q->Enqueue({.kind = "eager", .payload = "{\"a\":1}"});
  ASSERT_TRUE(id) << id.error().message;
  auto jobs = q->Receive(10, 1s, 30s);
  ASSERT_TRUE(jobs) << jobs.error().message;
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].id, *id);
  EXPECT_EQ((*jobs)[0].kind, "eager");
  EXPECT_EQ((*jobs)[0].payload, "{\"a\":1}");
  EXPECT_EQ((*jobs)[0].attempt, 1);
  ASSERT_TRUE(q->Ack((*jobs)[0]));
  auto again = q->Ack((*jobs)[0]);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_TRUE(q->Receive(10, 0ms, 30s)->empty());
}

TEST_P(JobQueueContract, PayloadBytesRoundTrip) {
  OPEN_OR_SKIP(q, "bytes");
  const std::string binary("\0\x01\xff\xfe zz \xf0\x9f\x98\x80", 13);
  for (const std::string& payload : {binary, std::string(), std::string("\xf0\x9f\x98\x80")}) {
    ASSERT_TRUE(q->Enqueue({.kind = "k", .payload = payload}));
    auto jobs = q->Receive(1, 1s, 30s);
    ASSERT_TRUE(jobs && jobs->size() == 1);
    EXPECT_EQ((*jobs)[0].payload, payload);
    ASSERT_TRUE(q->Ack((*jobs)[0]));
  }
}

TEST_P(JobQueueContract, RetryCarriesErrorAndAttempt) {
  OPEN_OR_SKIP(q, "retry");
  auto id = q->Enqueue({.kind = "eager", .payload = "p"});
  auto jobs = q->Receive(1, 1s, 30s);
  ASSERT_TRUE(jobs && jobs->size() == 1);
  ASSERT_TRUE(q->Retry((*jobs)[0], 0ms, "boom"));
  auto stale = q->Ack((*jobs)[0]);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, ErrorCode::kConflict);
  auto next = q->Receive(1, 2s, 30s);
  ASSERT_TRUE(next && next->size() == 1);
  EXPECT_EQ((*next)[0].id, *id);
  EXPECT_EQ((*next)[0].attempt, 2);
  EXPECT_EQ((*next)[0].last_error, "boom");
  ASSERT_TRUE(q->Ack((*next)[0]));
}

TEST_P(JobQueueContract, RetryDelayCountsAsDelayed) {
  OPEN_OR_SKIP(q, "delayed");
  ASSERT_TRUE(q->Enqueue({.kind = "k", .payload = "p"}));
  auto jobs = q->Receive(1, 1s, 30s);
  ASSERT_TRUE(jobs && jobs->size() == 1);
  ASSERT_TRUE(q->Retry((*jobs)[0], 1500ms, "later"));
  auto stats = q->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->delayed, 1);
  EXPECT_TRUE(q->Receive(1, 0ms, 30s)->empty());
  auto next = q->Receive(1, 5s, 30s);
  ASSERT_TRUE(next && next->size() == 1);
  EXPECT_EQ((*next)[0].attempt, 2);
}

TEST_P(JobQueueContract, ExpiredVisibilityRedeliversAndStaleHandleConflicts) {
  OPEN_OR_SKIP(q, "expire");
  ASSERT_TRUE(q->Enqueue({.kind = "k", .payload = "p"}));
  auto first = q->Receive(1, 1s, 1s);
  ASSERT_TRUE(first && first->size() == 1);
  auto second = q->Receive(1, 5s, 30s);
  ASSERT_TRUE(second && second->size() == 1);
  EXPECT_EQ((*second)[0].attempt, 2);
  for (auto result : {q->Ack((*first)[0]), q->Extend((*first)[0], 10s),
                      q->Retry((*first)[0], 0ms, "x"), q->Bury((*first)[0], "x")}) {
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kConflict);
  }
  ASSERT_TRUE(q->Extend((*second)[0], 60s));
  ASSERT_TRUE(q->Ack((*second)[0]));
}

TEST_P(JobQueueContract, BuryListRedrivePurge) {
  OPEN_OR_SKIP(q, "dead");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(q->Enqueue({.kind = "k", .payload = std::to_string(i)}));
  auto jobs = q->Receive(10, 1s, 30s);
  ASSERT_TRUE(jobs && jobs->size() == 3);
  for (const auto& job : *jobs) ASSERT_TRUE(q->Bury(job, "bad " + job.payload));
  auto stats = q->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->dead, 3);
  auto page = q->ListDead("", 2);
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->letters.size(), 2u);
  EXPECT_FALSE(page->next_after.empty());
  auto rest = q->ListDead(page->next_after, 2);
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->letters.size(), 1u);
  EXPECT_TRUE(rest->next_after.empty());
  const ingest::DeadLetter& letter = page->letters[0];
  EXPECT_EQ(letter.error, "bad " + letter.payload);
  EXPECT_EQ(letter.attempts, 1);
  auto missing = q->Redrive({"0000000000000-nope"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(q->Redrive({letter.id}).value_or(-1), 1);
  auto back = q->Receive(1, 1s, 30s);
  ASSERT_TRUE(back && back->size() == 1);
  EXPECT_EQ((*back)[0].payload, letter.payload);
  EXPECT_EQ((*back)[0].attempt, 1);
  EXPECT_EQ(q->Purge({}).value_or(-1), 2);
  EXPECT_EQ(q->Stats()->dead, 0);
}

TEST_P(JobQueueContract, BadArgumentsAndHandles) {
  OPEN_OR_SKIP(q, "bad");
  EXPECT_EQ(q->Enqueue({.kind = "Bad Kind"}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(q->Receive(0, 0ms, 30s).error().code, ErrorCode::kInvalidArgument);
  ingest::Job forged;
  forged.handle = "garbage";
  EXPECT_EQ(q->Ack(forged).error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace imgorigin::testing
