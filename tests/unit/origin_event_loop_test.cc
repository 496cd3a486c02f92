#include <event2/thread.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/time.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "origin/event_loop.h"

namespace imgorigin::origin {
namespace {

// libevent's locks, as evthread_use_pthreads() makes them, but counting the acquisitions made by
// threads that set `counted`: what a thread that posts to a loop takes from libevent.
thread_local bool counted = false;
std::atomic<int> counted_locks{0};

void* AllocLock(unsigned) {
  auto* lock = new pthread_mutex_t;
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);  // libevent asks for recursive ones
  pthread_mutex_init(lock, &attr);
  pthread_mutexattr_destroy(&attr);
  return lock;
}
void FreeLock(void* lock, unsigned) {
  pthread_mutex_destroy(static_cast<pthread_mutex_t*>(lock));
  delete static_cast<pthread_mutex_t*>(lock);
}
int Lock(unsigned mode, void* lock) {
  if (counted) counted_locks.fetch_add(1);
  return (mode & EVTHREAD_TRY) ? pthread_mutex_trylock(static_cast<pthread_mutex_t*>(lock))
                               : pthread_mutex_lock(static_cast<pthread_mutex_t*>(lock));
}
int Unlock(unsigned, void* lock) {
  return pthread_mutex_unlock(static_cast<pthread_mutex_t*>(lock));
}

void* AllocCondition(unsigned) {
  auto* cond = new pthread_cond_t;
  pthread_cond_init(cond, nullptr);
  return cond;
}
void FreeCondition(void* cond) {
  pthread_cond_destroy(static_cast<pthread_cond_t*>(cond));
  delete static_cast<pthread_cond_t*>(cond);
}
int SignalCondition(void* cond, int broadcast) {
  auto* c = static_cast<pthread_cond_t*>(cond);
  return broadcast ? pthread_cond_broadcast(c) : pthread_cond_signal(c);
}
int WaitCondition(void* cond, void* lock, const timeval* timeout) {
  auto* c = static_cast<pthread_cond_t*>(cond);
  auto* m = static_cast<pthread_mutex_t*>(lock);
  if (timeout == nullptr) return pthread_cond_wait(c, m) == 0 ? 0 : -1;
  timeval now;
  gettimeofday(&now, nullptr);
  timespec until{now.tv_sec + timeout->tv_sec, (now.tv_usec + timeout->tv_usec) * 1000};
  if (until.tv_nsec >= 1'000'000'000) {
    until.tv_sec += 1;
    until.tv_nsec -= 1'000'000'000;
  }
  const int r = pthread_cond_timedwait(c, m, &until);
  return r == 0 ? 0 : r == ETIMEDOUT ? 1 : -1;
}
unsigned long ThreadId() { return static_cast<unsigned long>(pthread_self()); }

// In place of EnableLibeventThreads(), once per process and before any event_base.
void UseCountingLocks() {
  static std::once_flag once;
  std::call_once(once, [] {
    static const evthread_lock_callbacks locks = {
        EVTHREAD_LOCK_API_VERSION, EVTHREAD_LOCKTYPE_RECURSIVE, AllocLock, FreeLock, Lock, Unlock};
    static const evthread_condition_callbacks conditions = {EVTHREAD_CONDITION_API_VERSION,
                                                            AllocCondition, FreeCondition,
                                                            SignalCondition, WaitCondition};
    ASSERT_EQ(evthread_set_lock_callbacks(&locks), 0);
    ASSERT_EQ(evthread_set_condition_callbacks(&conditions), 0);
    evthread_set_id_callback(ThreadId);
  });
}

TEST(EventLoopTest, TasksPostedFromSeveralThreadsRunOnTheLoopInTheirOrder) {
  UseCountingLocks();
  EventLoop loop;
  loop.Start();
  constexpr int kThreads = 4, kTasks = 2000;
  std::vector<std::vector<int>> seen(kThreads);  // touched by the loop's thread only
  std::atomic<int> left{kThreads * kTasks};
  std::promise<void> done;
  std::promise<std::thread::id> loop_thread;
  loop.Post([&] { loop_thread.set_value(std::this_thread::get_id()); });
  const std::thread::id loop_id = loop_thread.get_future().get();
  std::atomic<bool> off_loop{false};
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < kTasks; ++i) {
        loop.Post([&, t, i] {
          if (std::this_thread::get_id() != loop_id) off_loop = true;
          seen[t].push_back(i);
          if (left.fetch_sub(1) == 1) done.set_value();
        });
      }
    });
  }
  for (auto& p : posters) p.join();
  ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_FALSE(off_loop);
  for (const auto& s : seen) {
    ASSERT_EQ(s.size(), size_t{kTasks});
    for (int i = 0; i < kTasks; ++i) ASSERT_EQ(s[i], i);
  }
  loop.Stop();
  loop.Join();
}

// A render thread runs in the idle class: the moment it wakes the loop, the loop takes its core.
// If it held a lock the loop needs then (event_active() holds libevent's base lock while it
// wakes the loop), the loop would block on it until the render thread got a core back.
TEST(EventLoopTest, PostFromAnotherThreadTakesNoLockTheLoopNeeds) {
  UseCountingLocks();
  EventLoop loop;
  loop.Start();
  std::promise<void> ran;
  std::thread poster([&] {
    counted = true;
    for (int i = 0; i < 100; ++i) loop.Post([] {});
    loop.Post([&] { ran.set_value(); });
  });
  poster.join();
  ASSERT_EQ(ran.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(counted_locks.load(), 0);
  loop.Stop();
  loop.Join();
}

TEST(EventLoopTest, TasksLeftWhenTheLoopStopsRunInRunPendingOrTheDestructor) {
  UseCountingLocks();
  int ran = 0;
  {
    EventLoop loop;  // never started
    loop.Post([&] { ++ran; });
    loop.RunPending();
    EXPECT_EQ(ran, 1);
    loop.Post([&] { ++ran; });
  }
  EXPECT_EQ(ran, 2);
}

}  // namespace
}  // namespace imgorigin::origin
