// Fuzz target: the SVG self-containment check (transforms::CheckSvgIsSelfContained), which stands
// between untrusted documents and librsvg.
//
// Invariants, for any input:
//   - the check returns (no crash, no unbounded inflation of SVGZ) with kUnsupported or kTooLarge
//     when it refuses;
//   - an accepted plain document has no href whose quoted value starts with a scheme other than
//     "data:", no "@import", no "<!entity" and no backslash, however it is cased;
//   - wrapping an accepted document's refused twin in gzip does not make it acceptable: the check
//     reads SVGZ as librsvg does.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <string>
#include <string_view>

#include "tests/fuzz/fuzz_common.h"
#include "transforms/format.h"

namespace {

using imgorigin::common::ErrorCode;
using imgorigin::transforms::CheckSvgIsSelfContained;

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool HasExternalHref(const std::string& text) {
  for (const std::string_view quote : {"href=\"", "href='"}) {
    for (size_t pos = text.find(quote); pos != std::string::npos;
         pos = text.find(quote, pos + 1)) {
      // "vhref" is another attribute; "xlink:href" is an href.
      const char before = pos > 0 ? text[pos - 1] : ' ';
      if (std::isalnum(static_cast<unsigned char>(before)) || before == '-' || before == '_' ||
          before == '.') {
        continue;
      }
      std::string_view value = std::string_view(text).substr(pos + quote.size());
      value.remove_prefix(std::min(value.size(), value.find_first_not_of(" \t\r\n")));
      const size_t colon = value.find(':');
      const size_t end = value.find_first_of("\"'#");
      if (colon != std::string_view::npos && colon < end && !value.starts_with("data:")) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto checked = CheckSvgIsSelfContained(input);
  if (!checked) {
    FUZZ_CHECK(checked.error().code == ErrorCode::kUnsupported ||
                   checked.error().code == ErrorCode::kTooLarge,
               "refused with code %d", static_cast<int>(checked.error().code));
    return 0;
  }
  if (input.starts_with("\x1F\x8B")) return 0;  // accepted SVGZ: its text is checked inflated
  const std::string text = Lower(input);
  FUZZ_CHECK(!HasExternalHref(text), "accepted an external href");
  FUZZ_CHECK(text.find("@import") == std::string::npos, "accepted @import");
  FUZZ_CHECK(text.find("<!entity") == std::string::npos, "accepted an entity declaration");
  FUZZ_CHECK(text.find('\\') == std::string::npos, "accepted a backslash");
  return 0;
}
