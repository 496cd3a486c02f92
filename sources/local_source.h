// Originals from a local directory: "local:///path/in/root.jpg", read through storage's
// LocalJail, so no path leaves the root. Reads are blocking file I/O: call Fetch() from a worker
// thread, never from an event loop. Immutable after construction; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "sources/source.h"
#include "storage/local_jail.h"

namespace imgorigin::sources {

class LocalSource final : public Source {
 public:
  // `root` must be an existing directory. `max_bytes` larger files are refused (kTooLarge).
  static common::Result<LocalSource> Open(const std::string& root, int64_t max_bytes);

  // `url` is "local:///products/42.jpg" (already percent-decoded).
  common::Result<SourceImage> Fetch(std::string_view url) const override;

 private:
  LocalSource(storage::LocalJail jail, int64_t max_bytes)
      : jail_(std::move(jail)), max_bytes_(max_bytes) {}

  storage::LocalJail jail_;
  int64_t max_bytes_ = 0;
};

}  // namespace imgorigin::sources
