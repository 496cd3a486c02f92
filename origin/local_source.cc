#include "origin/local_source.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "common/fd.h"

namespace imgorigin::origin {
namespace {

using common::ErrorCode;
using common::Fail;

// openat2 has no glibc wrapper in Debian 12.
int OpenBeneath(int dir_fd, const char* path) {
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, dir_fd, path, &how, sizeof(how)));
}

}  // namespace

common::Result<LocalSource> LocalSource::Open(const std::string& root, int64_t max_bytes) {
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return Fail(ErrorCode::kInternal, "local source root \"" + root + "\" is not a readable directory");
  }
  return LocalSource(fd, max_bytes);
}

LocalSource::LocalSource(LocalSource&& other) noexcept
    : root_fd_(std::exchange(other.root_fd_, -1)), max_bytes_(other.max_bytes_) {}

LocalSource& LocalSource::operator=(LocalSource&& other) noexcept {
  std::swap(root_fd_, other.root_fd_);
  max_bytes_ = other.max_bytes_;
  return *this;
}

LocalSource::~LocalSource() {
  if (root_fd_ >= 0) ::close(root_fd_);
}

common::Result<SourceImage> LocalSource::Fetch(std::string_view url) const {
  std::string_view path = url.substr(url.find("://") + 3);
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (path.empty() || path.find('\0') != std::string_view::npos) {
    return Fail(ErrorCode::kNotFound, "source not found");
  }
  // Outside the root, through ".." or a symlink, is reported exactly like a missing file so the
  // layout around the root cannot be probed.
  common::UniqueFd fd(OpenBeneath(root_fd_, std::string(path).c_str()));
  if (fd.get() < 0) {
    if (errno == EACCES || errno == EPERM) return Fail(ErrorCode::kPermissionDenied, "source not readable");
    return Fail(ErrorCode::kNotFound, "source not found");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Fail(ErrorCode::kNotFound, "source not found");
  }
  if (st.st_size > max_bytes_) {
    return Fail(ErrorCode::kTooLarge, "source is " + std::to_string(st.st_size) +
                                          " bytes, over the limit of " +
                                          std::to_string(max_bytes_));
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // shrunk while reading: serve what is there, decode will judge it
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return SourceImage{common::MakeShared(std::move(bytes)), st.st_mtim.tv_sec};
}

}  // namespace imgorigin::origin
