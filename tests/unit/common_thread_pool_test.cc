#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <latch>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/thread_pool.h"

namespace imgorigin::common {
namespace {

ThreadPool::Config Pool(size_t threads, size_t queue_capacity) {
  ThreadPool::Config config;
  config.threads = threads;
  config.queue_capacity = queue_capacity;
  return config;
}

TEST(ThreadPoolTest, RunsTasksOnWorkerThreads) {
  ThreadPool pool(Pool(4, 256));
  EXPECT_EQ(pool.threads(), 4u);
  constexpr int kTasks = 100;
  std::latch done(kTasks);
  std::atomic<int> sum{0};
  std::mutex mu;
  std::set<std::thread::id> ids;
  for (int i = 0; i < kTasks; ++i) {
    ASSERT_TRUE(pool.TrySubmit([&, i] {
      sum.fetch_add(i);
      {
        std::lock_guard lock(mu);
        ids.insert(std::this_thread::get_id());
      }
      done.count_down();
    }));
  }
  done.wait();
  EXPECT_EQ(sum.load(), kTasks * (kTasks - 1) / 2);
  std::lock_guard lock(mu);
  EXPECT_FALSE(ids.contains(std::this_thread::get_id()));
  EXPECT_LE(ids.size(), 4u);
}

TEST(ThreadPoolTest, DefaultsToOneThreadPerCore) {
  ThreadPool pool(Pool(0, 1));
  EXPECT_GE(pool.threads(), 1u);
}

TEST(ThreadPoolTest, OnThreadStartRunsOncePerWorkerBeforeTasks) {
  std::atomic<int> started{0};
  std::atomic<bool> task_saw_all_started{false};
  {
    ThreadPool pool(Pool(1, 4), [&] { started.fetch_add(1); });
    std::promise<void> ran;
    ASSERT_TRUE(pool.TrySubmit([&] {
      task_saw_all_started = started.load() == 1;
      ran.set_value();
    }));
    ran.get_future().wait();
  }
  EXPECT_EQ(started.load(), 1);
  EXPECT_TRUE(task_saw_all_started.load());
}

TEST(ThreadPoolTest, TrySubmitFailsWhenQueueIsFull) {
  ThreadPool pool(Pool(1, 2));
  std::promise<void> started;
  std::latch release(1);
  ASSERT_TRUE(pool.TrySubmit([&] {
    started.set_value();
    release.wait();
  }));
  // Once the only worker is inside the blocking task, nothing else can leave the queue.
  started.get_future().wait();

  std::atomic<int> ran{0};
  EXPECT_TRUE(pool.TrySubmit([&] { ran.fetch_add(1); }));
  EXPECT_FALSE(pool.full());
  EXPECT_TRUE(pool.TrySubmit([&] { ran.fetch_add(1); }));
  EXPECT_EQ(pool.queued(), 2u);
  EXPECT_TRUE(pool.full());  // what the next TrySubmit finds
  EXPECT_FALSE(pool.TrySubmit([&] { ran.fetch_add(100); }));
  EXPECT_EQ(pool.queued(), 2u);

  release.count_down();
  pool.Shutdown();
  EXPECT_EQ(ran.load(), 2);  // the rejected task was dropped, the queued ones ran
}

TEST(ThreadPoolTest, ZeroCapacityAcceptsNothingWhileWorkersAreBusy) {
  ThreadPool pool(Pool(1, 0));
  std::promise<void> started;
  std::latch release(1);
  // The worker may still be starting, in which case there is no idle worker yet: retry until it
  // takes the task (bounded by the worker starting, not by time).
  while (!pool.TrySubmit([&] {
    started.set_value();
    release.wait();
  })) {
    std::this_thread::yield();
  }
  started.get_future().wait();
  EXPECT_TRUE(pool.full());
  EXPECT_FALSE(pool.TrySubmit([] {}));
  EXPECT_EQ(pool.queued(), 0u);
  release.count_down();
}

TEST(ThreadPoolTest, ShutdownDrainsQueuedTasks) {
  ThreadPool pool(Pool(2, 64));
  std::latch release(1);
  std::atomic<int> ran{0};
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(pool.TrySubmit([&] {
      release.wait();
      ran.fetch_add(1);
    }));
  }
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(pool.TrySubmit([&] { ran.fetch_add(1); }));

  // Shutdown blocks until the workers finish; let them go from another thread once it has begun
  // (its ordering against Shutdown does not matter for the outcome).
  std::thread releaser([&] { release.count_down(); });
  pool.Shutdown();
  releaser.join();
  EXPECT_EQ(ran.load(), 32);
  EXPECT_EQ(pool.queued(), 0u);
  EXPECT_EQ(pool.threads(), 0u);
}

TEST(ThreadPoolTest, SubmitAfterShutdownIsRefused) {
  ThreadPool pool(Pool(2, 8));
  pool.Shutdown();
  bool ran = false;
  EXPECT_FALSE(pool.TrySubmit([&] { ran = true; }));
  EXPECT_EQ(pool.queued(), 0u);
  EXPECT_FALSE(ran);
}

TEST(ThreadPoolTest, ShutdownIsIdempotentAndSafeFromSeveralThreads) {
  ThreadPool pool(Pool(3, 8));
  std::atomic<int> ran{0};
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(pool.TrySubmit([&] { ran.fetch_add(1); }));
  std::vector<std::thread> stoppers;
  for (int i = 0; i < 3; ++i) stoppers.emplace_back([&] { pool.Shutdown(); });
  for (auto& t : stoppers) t.join();
  pool.Shutdown();
  EXPECT_EQ(ran.load(), 8);
}  // the destructor shuts down once more

TEST(ThreadPoolTest, DestructorDrainsQueuedTasks) {
  std::atomic<int> ran{0};
  {
    ThreadPool pool(Pool(1, 16));
    for (int i = 0; i < 16; ++i) ASSERT_TRUE(pool.TrySubmit([&] { ran.fetch_add(1); }));
  }
  EXPECT_EQ(ran.load(), 16);
}

using Priority = ThreadPool::Priority;

// A task that holds its worker until released.
struct Gate {
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::function<void()> Task() {
    return [this] {
      entered.set_value();
      released.wait();
    };
  }
};

TEST(ThreadPoolTest, LowTasksRunOnlyWhenNoNormalTaskWaits) {
  ThreadPool pool(Pool(1, 8));
  Gate gate;
  ASSERT_TRUE(pool.TrySubmit(gate.Task()));
  gate.entered.get_future().wait();
  std::mutex mu;
  std::vector<std::string> order;
  auto record = [&](std::string name) {
    return [&, name] {
      std::lock_guard lock(mu);
      order.push_back(name);
    };
  };
  // Queued while the only worker is busy: the low one first, then two normal ones.
  std::promise<void> low_ran;
  ASSERT_TRUE(pool.TrySubmit(
      [&, low = record("low")] {
        low();
        low_ran.set_value();
      },
      Priority::kLow));
  ASSERT_TRUE(pool.TrySubmit(record("normal1")));
  ASSERT_TRUE(pool.TrySubmit(record("normal2")));
  EXPECT_EQ(pool.low_queued(), 1u);
  EXPECT_EQ(pool.queued(), 2u);
  gate.release.set_value();
  ASSERT_EQ(low_ran.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  pool.Shutdown();
  EXPECT_EQ(order, (std::vector<std::string>{"normal1", "normal2", "low"}));
}

TEST(ThreadPoolTest, LowLaneIsBoundedApartAndNeverTakesNormalRoom) {
  ThreadPool::Config config = Pool(2, 1);
  config.low_queue_capacity = 2;
  ThreadPool pool(config);
  // One low task runs (never on the last free worker of two), two wait; a fourth is refused.
  Gate running;
  ASSERT_TRUE(pool.TrySubmit(running.Task(), Priority::kLow));
  running.entered.get_future().wait();
  Gate waiting;
  ASSERT_TRUE(pool.TrySubmit(waiting.Task(), Priority::kLow));
  ASSERT_TRUE(pool.TrySubmit([] {}, Priority::kLow));
  EXPECT_FALSE(pool.TrySubmit([] {}, Priority::kLow));
  EXPECT_EQ(pool.low_queued(), 2u);
  // The normal lane still has all its room: the worker running a low task counts as free, so
  // one idle worker + one running low + one waiting place = three normal tasks accepted.
  EXPECT_FALSE(pool.full());
  Gate normal;
  ASSERT_TRUE(pool.TrySubmit(normal.Task()));
  normal.entered.get_future().wait();  // the free worker took it, though low tasks were waiting
  EXPECT_EQ(pool.low_queued(), 2u);
  ASSERT_TRUE(pool.TrySubmit([] {}));
  ASSERT_TRUE(pool.TrySubmit([] {}));
  EXPECT_TRUE(pool.full());
  EXPECT_FALSE(pool.TrySubmit([] {}));
  running.release.set_value();
  normal.release.set_value();
  waiting.release.set_value();
  pool.Shutdown();  // before the gates go
}

TEST(ThreadPoolTest, LowTasksRunAtMostMaxLowRunningAtOnce) {
  ThreadPool::Config config = Pool(4, 4);
  config.max_low_running = 2;
  ThreadPool pool(config);
  Gate first, second, third;
  for (Gate* gate : {&first, &second, &third}) {
    ASSERT_TRUE(pool.TrySubmit(gate->Task(), Priority::kLow));
  }
  first.entered.get_future().wait();
  second.entered.get_future().wait();
  // Two workers are idle, but the third low task waits for one of the two running to end.
  auto third_entered = third.entered.get_future();
  EXPECT_EQ(third_entered.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  EXPECT_EQ(pool.low_queued(), 1u);
  // The idle workers still take normal tasks.
  Gate normal;
  ASSERT_TRUE(pool.TrySubmit(normal.Task()));
  normal.entered.get_future().wait();
  first.release.set_value();
  EXPECT_EQ(third_entered.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  second.release.set_value();
  third.release.set_value();
  normal.release.set_value();
  pool.Shutdown();  // before the gates go
}

TEST(ThreadPoolTest, ShutdownDropsWaitingLowTasksAndFinishesRunningOnes) {
  ThreadPool pool(Pool(1, 4));
  Gate running;
  ASSERT_TRUE(pool.TrySubmit(running.Task(), Priority::kLow));
  running.entered.get_future().wait();
  std::atomic<int> normal_ran{0};
  bool low_ran = false;
  auto token = std::make_shared<int>(0);
  ASSERT_TRUE(pool.TrySubmit([&low_ran, token] { low_ran = true; }, Priority::kLow));
  ASSERT_TRUE(pool.TrySubmit([&] { normal_ran.fetch_add(1); }));
  std::thread stopper([&] { pool.Shutdown(); });
  // The waiting low task is destroyed (its captures released) without running.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (token.use_count() > 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(token.use_count(), 1);
  running.release.set_value();
  stopper.join();
  EXPECT_FALSE(low_ran);
  EXPECT_EQ(normal_ran.load(), 1);
  EXPECT_FALSE(pool.TrySubmit([] {}, Priority::kLow));
}

TEST(ThreadPoolTest, ZeroLowCapacityRefusesLowTasks) {
  ThreadPool::Config config = Pool(1, 4);
  config.low_queue_capacity = 0;
  ThreadPool pool(config);
  EXPECT_FALSE(pool.TrySubmit([] {}, Priority::kLow));
  EXPECT_TRUE(pool.TrySubmit([] {}));
}

}  // namespace
}  // namespace imgorigin::common
