#include "origin/event_loop.h"

#include <event2/thread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
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

EventLoop::EventLoop() : base_(NewBase()), wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!base_) throw std::runtime_error("event_base_new failed");
  if (!wake_fd_.valid()) throw std::runtime_error("eventfd failed");
  wake_.reset(
      event_new(base_.get(), wake_fd_.get(), EV_READ | EV_PERSIST, &EventLoop::OnWake, this));
  if (!wake_ || event_add(wake_.get(), nullptr) != 0) {
    throw std::runtime_error("cannot watch the loop's eventfd");
  }
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
  auto* node = new Task{std::move(task), nullptr};
  // Once pushed, the node is the loop's: only `head` (the list before it) is read after.
  Task* head = tasks_.load(std::memory_order_relaxed);
  do {
    node->next = head;
  } while (!tasks_.compare_exchange_weak(head, node, std::memory_order_release,
                                         std::memory_order_relaxed));
  // A list that was not empty has a wake-up on its way: the loop reads the eventfd before it
  // takes the list (OnWake), so the task that made the list non-empty wrote after that read.
  if (head != nullptr) return;
  const uint64_t one = 1;
  // Can fail only when the counter is near 2^64 - 1, which already means "wake".
  [[maybe_unused]] ssize_t n = write(wake_fd_.get(), &one, sizeof one);
}

void EventLoop::Stop() { event_base_loopbreak(base_.get()); }

void EventLoop::Join() {
  if (thread_.joinable()) thread_.join();
}

void EventLoop::RunPending() {
  // Newest first as taken: reversed, the tasks run in the order they were posted.
  Task* oldest = nullptr;
  Task* node = tasks_.exchange(nullptr, std::memory_order_acquire);
  while (node != nullptr) {
    Task* older = node->next;
    node->next = oldest;
    oldest = node;
    node = older;
  }
  while (oldest != nullptr) {
    std::unique_ptr<Task> task(oldest);
    oldest = task->next;
    task->run();
  }
}

void EventLoop::OnWake(evutil_socket_t fd, short, void* self) {
  uint64_t count;
  [[maybe_unused]] ssize_t n = read(fd, &count, sizeof count);  // resets it; EAGAIN: nothing new
  static_cast<EventLoop*>(self)->RunPending();
}

}  // namespace imgorigin::origin
