// What this binary is: its version, the git revision it was built from, and the libvips it runs
// with (version, and whether the build used npm's prebuilt libvips or the system's). Filled in
// by CMake (origin/CMakeLists.txt); any thread.
#pragma once

#include <string>

namespace imgorigin::origin {

struct BuildInfo {
  std::string version;
  std::string revision;         // "unknown" outside a git checkout
  std::string libvips_version;  // of the library loaded at run time
  std::string libvips_build;    // "npm" | "system"
};

const BuildInfo& GetBuildInfo();

// "imgorigin 0.1.0 (revision abc1234)\nlibvips 8.17.0 (npm)".
std::string VersionText();

}  // namespace imgorigin::origin
