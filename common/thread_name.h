// Names threads as `top -H`, `ps -L`, /proc/PID/task/TID/comm and perf show them, so an operator
// can tell the event loops from the render, I/O and job threads. Linux keeps at most 15 bytes; a
// longer name is left unset.
#pragma once

#include <pthread.h>

#include <thread>
#include <utility>

namespace imgorigin::common {

// Names the calling thread; null leaves the name it has.
inline void NameThisThread(const char* name) {
  if (name != nullptr) pthread_setname_np(pthread_self(), name);
}

// A thread that names itself `name` (null: keeps its creator's), then runs `body`.
template <typename Body>
std::thread NamedThread(const char* name, Body body) {
  return std::thread([name, body = std::move(body)]() mutable {
    NameThisThread(name);
    body();
  });
}

}  // namespace imgorigin::common
