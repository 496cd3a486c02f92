// A file on disk that holds one original, owned by whoever holds the last reference.
//
// Large originals are streamed to a temporary file instead of memory; the file is unlinked when
// the last SourceImage (or cache entry) that refers to it goes away. Immutable after creation;
// shared freely between threads through std::shared_ptr<const SourceFile>.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <string>
#include <utility>

namespace imgorigin::origin {

class SourceFile {
 public:
  SourceFile(std::string path, int64_t size) : path_(std::move(path)), size_(size) {}
  ~SourceFile() { ::unlink(path_.c_str()); }
  SourceFile(const SourceFile&) = delete;
  SourceFile& operator=(const SourceFile&) = delete;

  const std::string& path() const { return path_; }
  int64_t size() const { return size_; }

 private:
  std::string path_;
  int64_t size_;
};

}  // namespace imgorigin::origin
