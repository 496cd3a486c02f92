#include "origin/event_loop.h"

#include <event2/thread.h>

#include <mutex>
#include <stdexcept>

#include "common/thread_name.h"

namespace imgorigin::origin {

void EnableLibeventThreads() {
  static std::once_flag once;
  std::call_once(once, [] { evthread_use_pthreads(); });
}

namespace {

event_base* NewBase() {
  common::Handle<event_config, event_config_free> config(event_config_new());
  if (!config) return nullptr;
  // evhttp adds and removes a connection's read and write events several times per request;
  // the changelist folds them into at most one epoll_ctl per fd per loop iteration.
  event_config_set_flag(config.get(), EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  return event_base_new_with_config(config.get());
}

}  // namespace

EventLoop::EventLoop() : base_(NewBase()) {
  if (!base_) throw std::runtime_error("event_base_new failed");
  // Never added, only activated by Post(): an fd-less event that exists to be woken.
  wake_.reset(event_new(base_.get(), -1, 0, &EventLoop::OnWake, this));
}

EventLoop::~EventLoop() {
  Stop();
  Join();
  RunPending();
}

void EventLoop::Start() {
  // Keep running with no sockets to watch: work may still arrive through Post().
  thread_ = common::NamedThread("loop",
                                [this] { event_base_loop(base_.get(), EVLOOP_NO_EXIT_ON_EMPTY); });
}

void EventLoop::Post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(task));
  }
  event_active(wake_.get(), EV_READ, 0);
}

void EventLoop::Stop() { event_base_loopbreak(base_.get()); }

void EventLoop::Join() {
  if (thread_.joinable()) thread_.join();
}

void EventLoop::RunPending() {
  std::deque<std::function<void()>> tasks;
  {
    std::lock_guard lock(mu_);
    tasks.swap(tasks_);
  }
  for (auto& task : tasks) task();
}

void EventLoop::OnWake(evutil_socket_t, short, void* self) {
  static_cast<EventLoop*>(self)->RunPending();
}

}  // namespace imgorigin::origin
