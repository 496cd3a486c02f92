// Fuzz target: S3 event notifications (ingest::ParseS3Events), which anyone who can reach the
// events endpoint, or write to the queue S3 feeds, controls; and the key decoding under it.
//
// Input: the document (also decoded as one key). Invariants:
//   - a parsed document has at most kMaxS3EventRecords records, each with a bucket and a key
//     that is 1..kMaxS3KeyBytes of UTF-8 without control characters;
//   - an idempotency key is "s3e_" + 32 hex digits and the same for the same event;
//   - a decoded key obeys the same bounds as a parsed one.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ingest/record.h"
#include "ingest/s3_event.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

using namespace imgorigin::ingest;

void CheckKey(const std::string& key) {
  FUZZ_CHECK(!key.empty() && key.size() <= kMaxS3KeyBytes, "key of %zu bytes", key.size());
  FUZZ_CHECK(IsCleanText(key), "key is not clean UTF-8");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto events = ParseS3Events(text)) {
    FUZZ_CHECK(events->size() <= kMaxS3EventRecords, "%zu records", events->size());
    for (const S3Event& event : *events) {
      FUZZ_CHECK(!event.bucket.empty(), "empty bucket");
      CheckKey(event.key);
      const std::string id = S3EventIdempotencyKey(event);
      FUZZ_CHECK(id.size() == 36 && id.starts_with("s3e_") &&
                     id.find_first_not_of("0123456789abcdef", 4) == std::string::npos,
                 "idempotency key %s", id.c_str());
      FUZZ_CHECK(S3EventIdempotencyKey(event) == id, "idempotency key is not stable");
    }
  } else {
    FUZZ_CHECK(!events.error().message.empty(), "an error without a message");
  }
  if (auto key = DecodeS3Key(text)) CheckKey(*key);
  return 0;
}
