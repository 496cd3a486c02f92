// Originals from a local directory: "local:///path/in/root.jpg".
//
// Every path is resolved beneath the configured root and refused if it would leave it, through
// ".." or through a symlink (the kernel enforces this with openat2(RESOLVE_BENEATH)). Reads are
// blocking file I/O: call Fetch() from a worker thread, never from an event loop. Immutable after
// construction; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"

namespace imgorigin::origin {

struct SourceImage {
  common::SharedBytes bytes;
  int64_t last_modified = 0;  // unix seconds
};

class LocalSource {
 public:
  // `root` must be an existing directory. `max_bytes` larger files are refused (413).
  static common::Result<LocalSource> Open(const std::string& root, int64_t max_bytes);

  LocalSource(LocalSource&&) noexcept;
  LocalSource& operator=(LocalSource&&) noexcept;
  ~LocalSource();

  // `path` is the part after "local://", e.g. "/products/42.jpg" (already percent-decoded).
  common::Result<SourceImage> Fetch(std::string_view path) const;

 private:
  LocalSource(int root_fd, int64_t max_bytes) : root_fd_(root_fd), max_bytes_(max_bytes) {}

  int root_fd_ = -1;
  int64_t max_bytes_ = 0;
};

}  // namespace imgorigin::origin
