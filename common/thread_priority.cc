#include "common/thread_priority.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace imgorigin::common {
namespace {

id_t ThisThreadId() { return static_cast<id_t>(syscall(SYS_gettid)); }

}  // namespace

bool LowerThisThreadPriority(int nice) {
  if (nice <= 0) return true;
  return setpriority(PRIO_PROCESS, ThisThreadId(), ThisThreadNiceness() + nice) == 0;
}

int ThisThreadNiceness() {
  errno = 0;  // -1 is a valid niceness: errno tells it from an error
  const int value = getpriority(PRIO_PROCESS, ThisThreadId());
  return errno == 0 ? value : 0;
}

}  // namespace imgorigin::common
