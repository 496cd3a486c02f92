// A temporary file that holds one downloaded body, owned by whoever holds the last reference.
//
// Bodies too large for memory are streamed to a temporary file; the file is unlinked when the
// last reference to it goes away. Immutable after creation;
// shared freely between threads through std::shared_ptr<const SpilledFile>.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <string>
#include <utility>

namespace imgorigin::storage {

class SpilledFile {
 public:
  SpilledFile(std::string path, int64_t size) : path_(std::move(path)), size_(size) {}
  ~SpilledFile() { ::unlink(path_.c_str()); }
  SpilledFile(const SpilledFile&) = delete;
  SpilledFile& operator=(const SpilledFile&) = delete;

  const std::string& path() const { return path_; }
  int64_t size() const { return size_; }

 private:
  std::string path_;
  int64_t size_;
};

}  // namespace imgorigin::storage
