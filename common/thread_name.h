// Names the calling thread as `top -H`, `ps -L`, /proc/PID/task/TID/comm and perf show it, so an
// operator can tell the event loops from the render, I/O and job threads. Linux keeps at most 15
// bytes; a longer name is left unset.
#pragma once

#include <pthread.h>

namespace imgorigin::common {

inline void NameThisThread(const char* name) { pthread_setname_np(pthread_self(), name); }

}  // namespace imgorigin::common
