#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <string>
#include <thread>
#include <vector>

#include "cache/coalescer.h"

namespace imgorigin::cache {
namespace {

TEST(CoalescerTest, FirstJoinLeadsLaterJoinsFollow) {
  Coalescer<int> coalescer;
  EXPECT_TRUE(coalescer.Join("k", [](int) {}));
  EXPECT_FALSE(coalescer.Join("k", [](int) {}));
  EXPECT_FALSE(coalescer.Join("k", [](int) {}));
  EXPECT_TRUE(coalescer.Join("other", [](int) {}));  // keys are independent
  EXPECT_EQ(coalescer.in_flight(), 2u);
}

TEST(CoalescerTest, CompleteDeliversToEveryWaiterInJoinOrder) {
  Coalescer<std::string> coalescer;
  std::vector<std::string> got;
  ASSERT_TRUE(coalescer.Join("k", [&](const std::string& v) { got.push_back("leader:" + v); }));
  ASSERT_FALSE(coalescer.Join("k", [&](const std::string& v) { got.push_back("f1:" + v); }));
  ASSERT_FALSE(coalescer.Join("k", [&](const std::string& v) { got.push_back("f2:" + v); }));
  int other_calls = 0;
  ASSERT_TRUE(coalescer.Join("other", [&](const std::string&) { ++other_calls; }));

  coalescer.Complete("k", "bytes");
  EXPECT_EQ(got, (std::vector<std::string>{"leader:bytes", "f1:bytes", "f2:bytes"}));
  EXPECT_EQ(other_calls, 0);
  EXPECT_EQ(coalescer.in_flight(), 1u);
}

TEST(CoalescerTest, CompleteOfUnknownKeyIsANoOp) {
  Coalescer<int> coalescer;
  coalescer.Complete("nobody", 1);
  EXPECT_EQ(coalescer.in_flight(), 0u);
}

TEST(CoalescerTest, JoinAfterCompleteLeadsANewRound) {
  Coalescer<int> coalescer;
  int first = 0;
  int second = 0;
  ASSERT_TRUE(coalescer.Join("k", [&](int v) { first = v; }));
  coalescer.Complete("k", 1);
  EXPECT_EQ(coalescer.in_flight(), 0u);

  EXPECT_TRUE(coalescer.Join("k", [&](int v) { second = v; }));
  coalescer.Complete("k", 2);
  EXPECT_EQ(first, 1);  // the first round's waiter is not called again
  EXPECT_EQ(second, 2);
}

TEST(CoalescerTest, CallbackMayJoinTheSameKeyAgain) {
  // Callbacks run outside the lock and after the key is forgotten, so a waiter that retries
  // from its callback starts a fresh round instead of deadlocking or joining a finished one.
  Coalescer<int> coalescer;
  bool rejoined_as_leader = false;
  ASSERT_TRUE(
      coalescer.Join("k", [&](int) { rejoined_as_leader = coalescer.Join("k", [](int) {}); }));
  coalescer.Complete("k", 0);
  EXPECT_TRUE(rejoined_as_leader);
  EXPECT_EQ(coalescer.in_flight(), 1u);
}

TEST(CoalescerTest, ConcurrentJoinsElectExactlyOneLeaderPerRound) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 200;
  Coalescer<int> coalescer;
  std::atomic<int> leaders{0};
  std::atomic<int> delivered{0};
  std::atomic<int> wrong_value{0};
  std::vector<std::atomic<int>> leaders_per_round(kRounds);

  // Phase 1 of each round: every thread joins. Phase 2: one thread completes the round, after
  // all joins, so every joiner of that round is answered.
  std::barrier sync(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < kRounds; ++round) {
        const bool leader = coalescer.Join("key", [&, round](int v) {
          if (v != round) wrong_value.fetch_add(1);
          delivered.fetch_add(1);
        });
        if (leader) {
          leaders.fetch_add(1);
          leaders_per_round[round].fetch_add(1);
        }
        sync.arrive_and_wait();
        if (leader) coalescer.Complete("key", round);
        sync.arrive_and_wait();
      }
    });
  }
  for (auto& th : threads) th.join();

  EXPECT_EQ(leaders.load(), kRounds);
  for (int round = 0; round < kRounds; ++round)
    EXPECT_EQ(leaders_per_round[round].load(), 1) << round;
  EXPECT_EQ(delivered.load(), kThreads * kRounds);
  EXPECT_EQ(wrong_value.load(), 0);
  EXPECT_EQ(coalescer.in_flight(), 0u);
}

}  // namespace
}  // namespace imgorigin::cache
