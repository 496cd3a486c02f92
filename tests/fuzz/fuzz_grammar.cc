// Fuzz target: the imgproxy URL grammar (transforms::ParseProcessingPath).
//
// The input is the path after the signature segment ("/rs:fill:300:300/plain/…"). Each input is
// parsed under three configs (plain with presets, a "default" preset + base URL + watermark, and
// presets-only). Invariants, beyond "no crash, no UB, no leak":
//   - a parsed width/height never exceeds max_dimension;
//   - the canonical string of a parsed spec is itself a valid option list that parses back to a
//     spec with the same canonical string (the cache key is stable: Canonical() is a fixed point).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tests/fuzz/fuzz_common.h"
#include "transforms/parser.h"

namespace {

using imgorigin::transforms::ImageRequest;
using imgorigin::transforms::ParseProcessingPath;
using imgorigin::transforms::ParserConfig;

ParserConfig WithPresets() {
  ParserConfig config;
  config.presets = {{"small", "rs:fit:200:200/q:70"},
                    {"webp", "f:webp"},
                    {"soft", "bl:2/sh:0.5/g:sm"},
                    {"thumb", "rs:fill:64:64:1/g:fp:0.5:0.25/bg:ff00ff"}};
  return config;
}

ParserConfig WithDefaults() {
  ParserConfig config = WithPresets();
  config.presets["default"] = "q:75/sm:0";
  config.base_url = "local:///images/";
  config.max_dimension = 2000;
  config.watermark_configured = true;
  return config;
}

ParserConfig OnlyPresets() {
  ParserConfig config = WithPresets();
  config.only_presets = true;
  return config;
}

void CheckRoundTrip(const ImageRequest& request, const ParserConfig& config,
                    std::string_view input) {
  FUZZ_CHECK(request.spec.width >= 0 && request.spec.width <= config.max_dimension,
             "width %d for %.*s", request.spec.width, static_cast<int>(input.size()),
             input.data());
  FUZZ_CHECK(request.spec.height >= 0 && request.spec.height <= config.max_dimension,
             "height %d for %.*s", request.spec.height, static_cast<int>(input.size()),
             input.data());

  // Re-parse the canonical options under the same limits but without presets: the canonical
  // string already has every preset expanded (a "default" preset would otherwise apply twice).
  ParserConfig plain;
  plain.max_dimension = config.max_dimension;
  plain.watermark_configured = config.watermark_configured;
  const std::string canonical = request.spec.Canonical();
  const std::string path =
      (canonical.empty() ? std::string() : "/" + canonical) + "/plain/local:///a.jpg";
  const auto reparsed = ParseProcessingPath(path, plain);
  FUZZ_CHECK(reparsed.has_value(), "canonical \"%s\" of \"%.*s\" does not parse: %s",
             canonical.c_str(), static_cast<int>(input.size()), input.data(),
             reparsed ? "" : reparsed.error().message.c_str());
  const std::string again = reparsed->spec.Canonical();
  FUZZ_CHECK(again == canonical, "canonical \"%s\" of \"%.*s\" re-parses to \"%s\"",
             canonical.c_str(), static_cast<int>(input.size()), input.data(), again.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ParserConfig configs[] = {WithPresets(), WithDefaults(), OnlyPresets()};
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (const ParserConfig& config : configs) {
    const auto result = ParseProcessingPath(input, config);
    if (result) {
      CheckRoundTrip(*result, config, input);
    } else {
      FUZZ_CHECK(!result.error().message.empty(), "empty error message");
    }
  }
  return 0;
}
