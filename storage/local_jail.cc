#include "storage/local_jail.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace imgorigin::storage {
namespace {

using common::ErrorCode;
using common::Fail;

// openat2 has no glibc wrapper in Debian 12.
int OpenBeneath(int dir_fd, const char* path) {
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, dir_fd, path, &how, sizeof(how)));
}

}  // namespace

common::Result<LocalJail> LocalJail::Open(const std::string& root) {
  common::UniqueFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    return Fail(ErrorCode::kInternal, "directory \"" + root + "\" is not readable");
  }
  return LocalJail(std::move(fd));
}

common::Result<OpenedFile> LocalJail::OpenRead(std::string_view path) const {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (path.empty() || path.find('\0') != std::string_view::npos) {
    return Fail(ErrorCode::kNotFound, "source not found");
  }
  common::UniqueFd fd(OpenBeneath(root_.get(), std::string(path).c_str()));
  if (!fd.valid()) {
    if (errno == EACCES || errno == EPERM) {
      return Fail(ErrorCode::kPermissionDenied, "source not readable");
    }
    return Fail(ErrorCode::kNotFound, "source not found");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Fail(ErrorCode::kNotFound, "source not found");
  }
  return OpenedFile{std::move(fd), st.st_size, st.st_mtim.tv_sec};
}

}  // namespace imgorigin::storage
