// Small POSIX file helpers shared by the stores, sources and disk tiers.
//
// UniqueFd owns one file descriptor and closes it on destruction; MappedFile owns a read-only
// mapping of a whole file. WriteAll writes every byte and ReadUpTo reads up to a size, both
// retrying short transfers and EINTR. Any thread; a UniqueFd or MappedFile itself is not shared.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace imgorigin::common {

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership, for a library that closes the descriptor itself.
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// A read-only private mapping of the whole file at `path`. ok() is false when the file cannot be
// opened or mapped; an empty file is ok() with an empty view.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    off_t size = fd.valid() ? ::lseek(fd.get(), 0, SEEK_END) : -1;
    if (size <= 0) {
      ok_ = size == 0;
      return;
    }
    void* data = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (data == MAP_FAILED) return;
    data_ = static_cast<const char*>(data);
    size_ = static_cast<size_t>(size);
    ok_ = true;
  }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  bool ok() const { return ok_; }
  std::string_view bytes() const { return {data_, size_}; }

 private:
  const char* data_ = nullptr;
  size_t size_ = 0;
  bool ok_ = false;
};

// Up to `size` bytes from `fd`'s current offset; fewer at end of file. nullopt on a read error.
inline std::optional<std::string> ReadUpTo(int fd, size_t size) {
  std::string bytes(size, '\0');
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, bytes.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

// False (errno set) when a write fails or writes nothing.
inline bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace imgorigin::common
