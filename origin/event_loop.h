// One libevent event loop running on its own thread, with a way for other threads to hand it
// work.
//
// A request lives on the loop that accepted it; workers reach it only through Post(), which
// queues a closure and wakes the loop. Post() and Stop() may be called from any thread; every
// other member only from the loop's thread (or before Start()).
//
// Post() takes no lock: it pushes onto a lock-free list and, when the list was empty, writes to
// an eventfd the loop watches. A render thread runs in the idle scheduling class, so the loop it
// wakes takes its core at once; had it woken the loop while holding a lock (event_active() holds
// libevent's base lock while it notifies), the loop would block on that lock until the render
// thread got a core back, behind every normal thread (bench/README, hits under a render storm).
#pragma once

#include <event2/event.h>

#include <atomic>
#include <functional>
#include <thread>

#include "common/fd.h"
#include "common/handle.h"

namespace imgorigin::origin {

class EventLoop {
 public:
  EventLoop();   // requires EnableLibeventThreads() first
  ~EventLoop();  // joins the thread if still running
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  event_base* base() const { return base_.get(); }

  void Start();  // runs the loop on a new thread
  void Post(std::function<void()> task);
  void Stop();  // leaves the loop once the current callbacks return
  void Join();
  // Runs the tasks still queued, on the calling thread. Only once the loop has stopped.
  void RunPending();

 private:
  struct Task {
    std::function<void()> run;
    Task* next;
  };
  static void OnWake(evutil_socket_t fd, short, void* self);

  common::Handle<event_base, event_base_free> base_;
  common::UniqueFd wake_fd_;  // eventfd: written by Post() when it finds no task queued
  common::Handle<event, event_free> wake_;
  std::atomic<Task*> tasks_{nullptr};  // newest first
  std::thread thread_;
};

// Makes libevent's structures safe to touch across threads (Stop(), listeners). Call once, before
// creating any loop.
void EnableLibeventThreads();

}  // namespace imgorigin::origin
