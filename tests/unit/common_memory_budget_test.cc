#include "common/memory_budget.h"

#include <gtest/gtest.h>

#include <thread>

namespace imgorigin::common {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(MemoryBudget, ReservationsAddUpAndReleaseOnDestruction) {
  MemoryBudget budget(100);
  {
    auto a = budget.Reserve(60, Clock::now());
    ASSERT_TRUE(a.has_value());
    auto b = budget.Reserve(40, Clock::now());
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(budget.in_use(), 100);
  }
  EXPECT_EQ(budget.in_use(), 0);
  EXPECT_EQ(budget.peak(), 100);
  EXPECT_EQ(budget.waited(), 0u);
}

TEST(MemoryBudget, MoreThanTheWholeBudgetIsTooLarge) {
  MemoryBudget budget(100);
  auto r = budget.Reserve(101, Clock::now() + 1h);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(budget.refused(), 1u);
}

TEST(MemoryBudget, FullBudgetIsOverloadedAtTheDeadline) {
  MemoryBudget budget(100);
  auto held = budget.Reserve(80, Clock::now());
  ASSERT_TRUE(held.has_value());
  auto r = budget.Reserve(30, Clock::now() + 20ms);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kOverloaded);
  EXPECT_EQ(budget.in_use(), 80);
}

TEST(MemoryBudget, WaiterGetsTheBytesWhenTheyAreReleased) {
  MemoryBudget budget(100);
  auto held = budget.Reserve(80, Clock::now());
  ASSERT_TRUE(held.has_value());
  std::thread releaser([&] {
    std::this_thread::sleep_for(20ms);
    *held = MemoryBudget::Reservation();  // move-assigning releases the old bytes
  });
  auto r = budget.Reserve(50, Clock::now() + 1h);
  releaser.join();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->bytes(), 50);
  EXPECT_EQ(budget.in_use(), 50);
  EXPECT_EQ(budget.waited(), 1u);
  EXPECT_LE(budget.peak(), 100);
}

TEST(MemoryBudget, MovedReservationReleasesOnce) {
  MemoryBudget budget(100);
  {
    auto a = budget.Reserve(70, Clock::now());
    ASSERT_TRUE(a.has_value());
    MemoryBudget::Reservation moved = std::move(*a);
    EXPECT_EQ(moved.bytes(), 70);
    EXPECT_EQ(a->bytes(), 0);
  }
  EXPECT_EQ(budget.in_use(), 0);
}

}  // namespace
}  // namespace imgorigin::common
