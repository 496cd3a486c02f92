// Fuzz target: the configuration loader (origin::LoadConfig) on a hostile or broken TOML file.
// An operator's typo must give an error that names the problem, never a crash or a config that
// fails its own validation.
//
// Input: the file's bytes, handed over through a memfd so no disk is written. Invariants: a
// loaded Config passes Validate(); an error has a message.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/fd.h"
#include "origin/config.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  imgorigin::common::UniqueFd fd(memfd_create("imgorigin-config", MFD_CLOEXEC));
  FUZZ_CHECK(fd.valid(), "memfd_create failed");
  FUZZ_CHECK(imgorigin::common::WriteAll(
                 fd.get(), std::string_view(reinterpret_cast<const char*>(data), size)) ||
                 size == 0,
             "memfd write failed");
  const std::string path = "/proc/self/fd/" + std::to_string(fd.get());
  // Unsigned mode so that a file without keys can load; nothing else comes from the environment.
  auto env = [](std::string_view name) -> std::optional<std::string> {
    if (name == "IMGORIGIN_ALLOW_UNSIGNED") return "true";
    return std::nullopt;
  };
  auto config = imgorigin::origin::LoadConfig(path, env);
  if (config) {
    FUZZ_CHECK(config->Validate().has_value(), "a loaded config fails Validate()");
  } else {
    FUZZ_CHECK(!config.error().message.empty(), "an error without a message");
  }
  return 0;
}
