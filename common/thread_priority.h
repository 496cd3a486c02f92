// CPU priority of the calling thread. Linux keeps niceness per thread, and a thread a niced one
// creates (libvips' helper threads, for one) starts at the same niceness, so lowering the
// priority of a pool's threads at their start lowers everything that works for them.
//
// imgorigin's order, highest first: event loops (nice 0: hits and hand-offs), on-the-fly renders
// (server.render_nice), background jobs (jobs.nice). Raising a priority needs privileges, so
// everything starts at 0 and is only ever lowered.
#pragma once

namespace imgorigin::common {

// Adds `nice` (1..19) to the calling thread's niceness; 0 leaves it. Returns false when the
// kernel refused (the thread keeps running at its old priority).
bool LowerThisThreadPriority(int nice);

// The calling thread's niceness.
int ThisThreadNiceness();

}  // namespace imgorigin::common
