#include "sources/local_source.h"

#include <utility>

#include "common/fd.h"

namespace imgorigin::sources {

using common::ErrorCode;
using common::Fail;

common::Result<LocalSource> LocalSource::Open(const std::string& root, int64_t max_bytes) {
  auto jail = storage::LocalJail::Open(root);
  if (!jail) {
    return Fail(ErrorCode::kInternal,
                "local source root \"" + root + "\" is not a readable directory");
  }
  return LocalSource(*std::move(jail), max_bytes);
}

common::Result<SourceImage> LocalSource::Fetch(std::string_view url) const {
  auto file = jail_.OpenRead(url.substr(url.find("://") + 3));
  if (!file) return std::unexpected(file.error());
  if (file->size > max_bytes_) {
    return Fail(ErrorCode::kTooLarge, "source is " + std::to_string(file->size) +
                                          " bytes, over the limit of " +
                                          std::to_string(max_bytes_));
  }
  // A file that shrank while being read is served as it is: decoding will judge it.
  auto bytes = common::ReadUpTo(file->fd.get(), static_cast<size_t>(file->size));
  if (!bytes) return Fail(ErrorCode::kInternal, "source could not be read");
  return SourceImage{common::MakeShared(*std::move(bytes)), file->mtime};
}

}  // namespace imgorigin::sources
