// One libevent event loop running on its own thread, with a way for other threads to hand it
// work.
//
// A request lives on the loop that accepted it; workers reach it only through Post(), which
// queues a closure and wakes the loop. Post() and Stop() may be called from any thread; every
// other member only from the loop's thread (or before Start()).
#pragma once

#include <event2/event.h>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

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
  static void OnWake(evutil_socket_t, short, void* self);

  common::Handle<event_base, event_base_free> base_;
  common::Handle<event, event_free> wake_;
  std::mutex mu_;
  std::deque<std::function<void()>> tasks_;
  std::thread thread_;
};

// Makes libevent's structures safe to touch across threads (needed for Post). Call once, before
// creating any loop.
void EnableLibeventThreads();

}  // namespace imgorigin::origin
