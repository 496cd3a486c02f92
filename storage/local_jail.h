// A local directory that paths cannot leave: the root of local:/// sources and of the local
// originals and variants stores.
//
// Every path is resolved beneath the root by the kernel (openat2 with RESOLVE_BENEATH), so ".."
// and symlinks that would leave it fail like a missing file, whatever the directory holds.
// Only regular files are opened, without blocking (a FIFO planted under the root cannot stall
// the caller). Calls do blocking file I/O: make them from a pool thread, never an event loop.
// Immutable after Open(); any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/fd.h"
#include "common/status.h"

namespace imgorigin::storage {

struct OpenedFile {
  common::UniqueFd fd;
  int64_t size = 0;
  int64_t mtime = 0;  // unix seconds
};

class LocalJail {
 public:
  // `root` must be an existing, readable directory.
  static common::Result<LocalJail> Open(const std::string& root);

  // `path` is relative to the root (leading slashes are ignored). Missing, outside the root
  // or not a regular file: kNotFound, with the same message for each, so the layout around the
  // root cannot be probed. Unreadable: kPermissionDenied.
  common::Result<OpenedFile> OpenRead(std::string_view path) const;

 private:
  explicit LocalJail(common::UniqueFd root) : root_(std::move(root)) {}

  common::UniqueFd root_;
};

}  // namespace imgorigin::storage
