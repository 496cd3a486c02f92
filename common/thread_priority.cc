#include "common/thread_priority.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace imgorigin::common {
namespace {

id_t ThisThreadId() { return static_cast<id_t>(syscall(SYS_gettid)); }

}  // namespace

bool LowerThisThreadPriority(const CpuPriority& priority) {
  bool done = true;
  if (priority.nice > 0) {
    done = setpriority(PRIO_PROCESS, ThisThreadId(), ThisThreadNiceness() + priority.nice) == 0;
  }
  if (priority.idle && !ThisThreadIsIdle()) {
    const sched_param param{};  // SCHED_IDLE takes priority 0; pid 0 is the calling thread
    done = sched_setscheduler(0, SCHED_IDLE, &param) == 0 && done;
  }
  return done;
}

int ThisThreadNiceness() {
  errno = 0;  // -1 is a valid niceness: errno tells it from an error
  const int value = getpriority(PRIO_PROCESS, ThisThreadId());
  return errno == 0 ? value : 0;
}

bool ThisThreadIsIdle() { return sched_getscheduler(0) == SCHED_IDLE; }  // 0: this thread

}  // namespace imgorigin::common
