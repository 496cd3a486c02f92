// Fuzz target: what imgorigin parses from AWS and S3-compatible servers, which a hostile or
// broken endpoint controls: S3 error bodies (S3ErrorCode) and the elements of S3's other XML
// answers (S3XmlText: UploadId, ETag), ListObjectsV2 pages (ParseListObjectsV2), the credential
// JSON of the container endpoint and IMDS (ParseCredentialsJson), shared credentials files
// (ParseCredentialsFile) and ISO 8601 expiry times (ParseIso8601).
//
// Input: byte 0 picks the parser, the rest is the text. Invariants:
//   - an S3 error code is empty or at most 64 alphanumeric characters (it goes into logs and
//     error messages);
//   - an XML element's decoded text is never longer than the answer it came from;
//   - a parsed listing has non-empty keys no longer than the answer, sizes >= 0, and a next
//     token only when it is not the last page (a truncated listing always has one);
//   - parsed credentials always have both keys, and none holds a line break;
//   - a parsed time formats back to a time that parses to the same instant.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "storage/aws_credentials.h"
#include "storage/s3_client.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

using namespace imgorigin::storage;

bool OneLine(const std::string& s) { return s.find_first_of("\r\n") == std::string::npos; }

void CheckCredentials(const AwsCredentials& c) {
  FUZZ_CHECK(!c.access_key_id.empty() && !c.secret_access_key.empty(), "credentials lack a key");
  FUZZ_CHECK(OneLine(c.access_key_id) && OneLine(c.secret_access_key) && OneLine(c.session_token),
             "a credential holds a line break");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0: {
      const std::string code = S3ErrorCode(text);
      FUZZ_CHECK(code.size() <= 64 && std::all_of(code.begin(), code.end(),
                                                  [](unsigned char c) { return std::isalnum(c); }),
                 "S3 error code \"%s\"", code.c_str());
      for (std::string_view tag : {"UploadId", "ETag"}) {
        if (auto element = S3XmlText(text, tag)) {
          FUZZ_CHECK(element->size() <= text.size(), "<%s> decodes longer than its answer",
                     std::string(tag).c_str());
        }
      }
      break;
    }
    case 1:
      if (auto c = ParseCredentialsJson(text)) CheckCredentials(*c);
      break;
    case 2:
      for (std::string_view profile : {"default", "prod"}) {
        if (auto c = ParseCredentialsFile(text, profile)) CheckCredentials(*c);
      }
      break;
    case 3:
      if (auto t = ParseIso8601(text)) {
        const time_t seconds = std::chrono::system_clock::to_time_t(*t);
        tm utc{};
        if (gmtime_r(&seconds, &utc) == nullptr || utc.tm_year + 1900 < 1 ||
            utc.tm_year + 1900 > 9999) {
          break;  // outside what ISO 8601's four-digit years spell
        }
        char buf[32];
        std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
        auto again = ParseIso8601(buf);
        FUZZ_CHECK(again && std::chrono::system_clock::to_time_t(*again) == seconds,
                   "%s does not parse back", buf);
      }
      break;
    case 4:
      if (auto page = ParseListObjectsV2(text)) {
        for (const auto& object : page->objects) {
          FUZZ_CHECK(!object.key.empty() && object.key.size() <= text.size(), "bad listed key");
          FUZZ_CHECK(object.size >= 0, "negative listed size");
        }
        FUZZ_CHECK(page->next_token.size() <= text.size(), "token longer than the answer");
      }
      break;
  }
  return 0;
}
