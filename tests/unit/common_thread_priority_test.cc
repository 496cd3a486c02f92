#include <gtest/gtest.h>

#include <thread>

#include "common/thread_pool.h"
#include "common/thread_priority.h"

namespace imgorigin::common {
namespace {

TEST(ThreadPriority, LowersOnlyTheCallingThread) {
  const int before = ThisThreadNiceness();
  int inside = -100;
  std::thread([&] {
    ASSERT_TRUE(LowerThisThreadPriority({.nice = 3}));
    inside = ThisThreadNiceness();
  }).join();
  EXPECT_EQ(inside, before + 3);
  EXPECT_EQ(ThisThreadNiceness(), before);
}

TEST(ThreadPriority, ZeroLeavesIt) {
  const int before = ThisThreadNiceness();
  EXPECT_TRUE(LowerThisThreadPriority({}));
  EXPECT_EQ(ThisThreadNiceness(), before);
}

// What `imgorigin serve` does to its CPU pool: the workers, and the threads they start (as
// libvips does), run below the threads that made the pool (the event loops).
TEST(ThreadPriority, PoolWorkersAndTheirChildrenRunLower) {
  const int base = ThisThreadNiceness();
  int worker = -100;
  int child = -100;
  {
    ThreadPool pool({.threads = 1, .queue_capacity = 1},
                    [] { LowerThisThreadPriority({.nice = 5}); });
    ASSERT_TRUE(pool.TrySubmit([&] {
      worker = ThisThreadNiceness();
      std::thread([&] { child = ThisThreadNiceness(); }).join();
    }));
  }  // joins
  EXPECT_EQ(worker, base + 5);
  EXPECT_EQ(child, base + 5);
  EXPECT_EQ(ThisThreadNiceness(), base);
}

// The default of `imgorigin serve`: the CPU pool's workers and every thread they start run in the
// idle class; the thread that made the pool (an event loop's peer) stays in the normal one.
TEST(ThreadPriority, PoolWorkersAndTheirChildrenJoinTheIdleClass) {
  ASSERT_FALSE(ThisThreadIsIdle());
  bool worker = false;
  bool child = false;
  {
    ThreadPool pool({.threads = 1, .queue_capacity = 1},
                    [] { ASSERT_TRUE(LowerThisThreadPriority({.nice = 5, .idle = true})); });
    ASSERT_TRUE(pool.TrySubmit([&] {
      worker = ThisThreadIsIdle();
      std::thread([&] { child = ThisThreadIsIdle(); }).join();
    }));
  }  // joins
  EXPECT_TRUE(worker);
  EXPECT_TRUE(child);
  EXPECT_FALSE(ThisThreadIsIdle());
}

}  // namespace
}  // namespace imgorigin::common
