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
    ASSERT_TRUE(LowerThisThreadPriority(3));
    inside = ThisThreadNiceness();
  }).join();
  EXPECT_EQ(inside, before + 3);
  EXPECT_EQ(ThisThreadNiceness(), before);
}

TEST(ThreadPriority, ZeroLeavesIt) {
  const int before = ThisThreadNiceness();
  EXPECT_TRUE(LowerThisThreadPriority(0));
  EXPECT_EQ(ThisThreadNiceness(), before);
}

// What `imgorigin serve` does to its CPU pool: the workers, and the threads they start (as
// libvips does), run below the threads that made the pool (the event loops).
TEST(ThreadPriority, PoolWorkersAndTheirChildrenRunLower) {
  const int base = ThisThreadNiceness();
  int worker = -100;
  int child = -100;
  {
    ThreadPool pool({.threads = 1, .queue_capacity = 1}, [] { LowerThisThreadPriority(5); });
    ASSERT_TRUE(pool.TrySubmit([&] {
      worker = ThisThreadNiceness();
      std::thread([&] { child = ThisThreadNiceness(); }).join();
    }));
  }  // joins
  EXPECT_EQ(worker, base + 5);
  EXPECT_EQ(child, base + 5);
  EXPECT_EQ(ThisThreadNiceness(), base);
}

}  // namespace
}  // namespace imgorigin::common
