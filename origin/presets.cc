#include "origin/presets.h"

#include <algorithm>
#include <cctype>

namespace imgorigin::origin {

namespace {

std::string PresetPath(std::string_view preset, std::string_view source) {
  // Everything but unreserved characters, "/" and ":" is escaped: "@" would otherwise start an
  // extension, "%" an escape.
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string path = "/pr:" + std::string(preset) + "/plain/";
  for (const char ch : source) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/' || c == ':') {
      path += ch;
    } else {
      path += '%';
      path += kHex[c >> 4];
      path += kHex[c & 15];
    }
  }
  return path;
}

}  // namespace

std::string SignedPresetPath(const signing::Signer& signer, std::string_view preset,
                             std::string_view source) {
  const std::string path = PresetPath(preset, source);
  return "/" + signer.Sign(path) + path;
}

std::vector<PresetSize> PresetSizes(const transforms::ParserConfig& parser) {
  std::vector<PresetSize> sizes;
  for (const auto& [name, options] : parser.presets) {
    if (name == "default") continue;
    // Config validation parsed every preset already; the source only completes the URL.
    auto request = transforms::ParseProcessingPath(PresetPath(name, "local:///size"), parser);
    if (!request) continue;
    const auto& spec = request->spec;
    const double side = std::max(spec.width * spec.zoom_x, spec.height * spec.zoom_y) * spec.dpr;
    sizes.push_back({name, side});
  }
  std::stable_sort(sizes.begin(), sizes.end(), [](const PresetSize& a, const PresetSize& b) {
    // Unbounded (0) sorts after every bounded size; the map gave name order to equal ones.
    if ((a.size == 0) != (b.size == 0)) return b.size == 0;
    return a.size < b.size;
  });
  return sizes;
}

}  // namespace imgorigin::origin
