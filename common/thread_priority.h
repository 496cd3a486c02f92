// CPU priority of the calling thread. Linux keeps the scheduling class and the niceness per
// thread, and a thread that another creates (libvips' helper threads, for one) starts with the
// creator's, so lowering a pool's threads at their start lowers everything that works for them.
//
// imgorigin's order, highest first: event loops (normal class, nice 0: hits and hand-offs), then
// on-the-fly renders and background jobs. By default those two run in the idle class (Linux
// SCHED_IDLE): they get only the CPU time no normal thread wants, and a loop that wakes takes the
// core at once. Out of that class (server.render_idle = false), renders run at
// server.render_nice and jobs at nice 10. Raising a priority needs privileges, so everything
// starts at normal class, nice 0, and is only ever lowered.
#pragma once

namespace imgorigin::common {

struct CpuPriority {
  int nice = 0;       // added to the thread's niceness (0..19); 0 leaves it
  bool idle = false;  // SCHED_IDLE; the kernel then ignores the niceness between such threads
};

// Lowers the calling thread to `priority`. Returns false when the kernel refused a part of it
// (the thread keeps what it had for that part).
bool LowerThisThreadPriority(const CpuPriority& priority);

// The calling thread's niceness.
int ThisThreadNiceness();

// Whether the calling thread is in the idle class.
bool ThisThreadIsIdle();

}  // namespace imgorigin::common
