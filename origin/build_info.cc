#include "origin/build_info.h"

#include <vips/vips.h>

namespace imgorigin::origin {

const BuildInfo& GetBuildInfo() {
  static const BuildInfo info{IMGORIGIN_VERSION, IMGORIGIN_GIT_REVISION, vips_version_string(),
                              IMGORIGIN_LIBVIPS_BUILD};
  return info;
}

std::string VersionText() {
  const BuildInfo& info = GetBuildInfo();
  return "imgorigin " + info.version + " (revision " + info.revision + ")\nlibvips " +
         info.libvips_version + " (" + info.libvips_build + ")";
}

}  // namespace imgorigin::origin
