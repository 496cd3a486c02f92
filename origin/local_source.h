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

#include "common/status.h"
#include "origin/source.h"

namespace imgorigin::origin {

class LocalSource final : public Source {
 public:
  // `root` must be an existing directory. `max_bytes` larger files are refused (413).
  static common::Result<LocalSource> Open(const std::string& root, int64_t max_bytes);

  LocalSource(LocalSource&&) noexcept;
  LocalSource& operator=(LocalSource&&) noexcept;
  ~LocalSource();

  // `url` is "local:///products/42.jpg" (already percent-decoded).
  common::Result<SourceImage> Fetch(std::string_view url) const override;

 private:
  LocalSource(int root_fd, int64_t max_bytes) : root_fd_(root_fd), max_bytes_(max_bytes) {}

  int root_fd_ = -1;
  int64_t max_bytes_ = 0;
};

}  // namespace imgorigin::origin
