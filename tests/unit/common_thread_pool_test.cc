#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <latch>
#include <mutex>
#include <set>
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

}  // namespace
}  // namespace imgorigin::common
