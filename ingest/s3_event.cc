#include "ingest/s3_event.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>

#include "ingest/record.h"
#include "storage/aws_credentials.h"
#include "storage/digest.h"
#include "storage/s3_client.h"

namespace imgorigin::ingest {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;
using nlohmann::json;

constexpr size_t kMaxBucketBytes = 255;  // S3 allows 63; legacy and S3-compatible stores more
constexpr size_t kMaxFieldBytes = 1024;  // ETag, version id, sequencer, event name
constexpr size_t kIdempotencyHexDigits = 32;

common::Error Invalid(const std::string& where, std::string_view what) {
  return common::Error{ErrorCode::kInvalidArgument, "S3 event " + where + ": " + std::string(what)};
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsBucketName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxBucketBytes &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_';
         });
}

bool EndsWithNoCase(std::string_view text, std::string_view suffix) {
  if (suffix.size() > text.size()) return false;
  return std::equal(suffix.begin(), suffix.end(), text.end() - suffix.size(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) ==
           std::tolower(static_cast<unsigned char>(b));
  });
}

// What `name` says happened, once MinIO's "s3:" prefix is dropped; nullopt for kinds imgorigin
// does not act on.
std::optional<S3EventKind> KindOf(std::string_view name) {
  if (name.starts_with("s3:")) name.remove_prefix(3);
  if (name.starts_with("ObjectCreated:")) return S3EventKind::kCreated;
  if (name.starts_with("ObjectRemoved:") || name.starts_with("LifecycleExpiration:")) {
    return S3EventKind::kRemoved;
  }
  return std::nullopt;
}

// Member `name` of `object` when present; a Result error when present with another type.
// `where` names the object in messages ("Records[0].s3").
class Fields {
 public:
  Fields(const json& object, std::string where) : object_(object), where_(std::move(where)) {}

  Result<const json*> Object(const char* name) const {
    auto member = Find(name);
    if (!member) return Fail(ErrorCode::kInvalidArgument, Path(name) + " is missing");
    if (!(*member)->is_object()) return std::unexpected(Invalid(Path(name), "not an object"));
    return *member;
  }

  // A string of at most `max` bytes of UTF-8 without control characters; "" when absent unless
  // `required`.
  Result<std::string> Text(const char* name, bool required, size_t max = kMaxFieldBytes) const {
    auto member = Find(name);
    if (!member) {
      if (required) return std::unexpected(Invalid(Path(name), "missing"));
      return std::string();
    }
    if (!(*member)->is_string()) return std::unexpected(Invalid(Path(name), "not a string"));
    const std::string& text = (*member)->get_ref<const std::string&>();
    if (text.size() > max || !IsCleanText(text)) {
      return std::unexpected(Invalid(Path(name), "too long, not UTF-8 or holds control bytes"));
    }
    return text;
  }

  // A whole number >= 0; 0 when absent.
  Result<int64_t> Count(const char* name) const {
    auto member = Find(name);
    if (!member) return 0;
    if ((*member)->is_number_unsigned()) {
      const uint64_t value = (*member)->get<uint64_t>();
      if (value <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(value);
    }
    return std::unexpected(Invalid(Path(name), "not a whole number of bytes"));
  }

  std::string Path(const char* name) const { return where_ + "." + name; }

 private:
  std::optional<const json*> Find(const char* name) const {
    auto it = object_.find(name);
    if (it == object_.end() || it->is_null()) return std::nullopt;
    return &*it;
  }

  const json& object_;
  std::string where_;
};

// One record; nullopt for an event kind that is left out.
Result<std::optional<S3Event>> ParseRecord(const json& record, const std::string& where) {
  if (!record.is_object()) return std::unexpected(Invalid(where, "not an object"));
  const Fields fields(record, where);
  auto name = fields.Text("eventName", true);
  if (!name) return std::unexpected(name.error());
  const auto kind = KindOf(*name);
  if (!kind) return std::optional<S3Event>();

  S3Event event;
  event.kind = *kind;
  event.name = *name;
  auto time = fields.Text("eventTime", false);
  if (!time) return std::unexpected(time.error());
  if (!time->empty()) {
    auto parsed = storage::ParseIso8601(*time);
    if (!parsed) return std::unexpected(Invalid(fields.Path("eventTime"), "not an ISO 8601 time"));
    event.time = *parsed;
  }

  auto s3 = fields.Object("s3");
  if (!s3) return std::unexpected(s3.error());
  const Fields s3_fields(**s3, where + ".s3");
  auto bucket = s3_fields.Object("bucket");
  if (!bucket) return std::unexpected(bucket.error());
  auto bucket_name = Fields(**bucket, s3_fields.Path("bucket")).Text("name", true);
  if (!bucket_name) return std::unexpected(bucket_name.error());
  if (!IsBucketName(*bucket_name)) {
    return std::unexpected(Invalid(s3_fields.Path("bucket") + ".name", "not a bucket name"));
  }
  event.bucket = *bucket_name;

  auto object = s3_fields.Object("object");
  if (!object) return std::unexpected(object.error());
  const Fields object_fields(**object, s3_fields.Path("object"));
  auto encoded_key = object_fields.Text("key", true, 3 * kMaxS3KeyBytes);
  if (!encoded_key) return std::unexpected(encoded_key.error());
  auto key = DecodeS3Key(*encoded_key);
  if (!key) return std::unexpected(Invalid(object_fields.Path("key"), key.error().message));
  event.key = *std::move(key);

  auto size = object_fields.Count("size");
  auto etag = object_fields.Text("eTag", false);
  auto version = object_fields.Text("versionId", false);
  auto sequencer = object_fields.Text("sequencer", false);
  for (const auto* r : {&etag, &version, &sequencer}) {
    if (!*r) return std::unexpected(r->error());
  }
  if (!size) return std::unexpected(size.error());
  event.size = *size;
  event.etag = storage::UnquotedEtag(*etag);
  event.version_id = *version;
  event.sequencer = *sequencer;
  return std::optional<S3Event>(std::move(event));
}

Result<std::vector<S3Event>> ParseRecords(const json& records) {
  if (!records.is_array()) return std::unexpected(Invalid("Records", "not an array"));
  if (records.size() > kMaxS3EventRecords) {
    return std::unexpected(
        Invalid("Records", "more than " + std::to_string(kMaxS3EventRecords) + " records"));
  }
  std::vector<S3Event> events;
  for (size_t i = 0; i < records.size(); ++i) {
    auto event = ParseRecord(records[i], "Records[" + std::to_string(i) + "]");
    if (!event) return std::unexpected(event.error());
    if (*event) events.push_back(**std::move(event));
  }
  return events;
}

Result<std::vector<S3Event>> ParseDocument(std::string_view text, bool envelope_allowed) {
  const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Fail(ErrorCode::kInvalidArgument, "S3 event: not valid JSON");
  if (!doc.is_object()) return Fail(ErrorCode::kInvalidArgument, "S3 event: not a JSON object");
  auto string_member = [&doc](const char* name) -> std::string_view {
    auto it = doc.find(name);
    return it != doc.end() && it->is_string() ? std::string_view(it->get_ref<const std::string&>())
                                              : std::string_view();
  };
  if (string_member("Event") == "s3:TestEvent") return std::vector<S3Event>();
  if (envelope_allowed && string_member("Type") == "Notification" &&
      doc.find("Records") == doc.end()) {
    auto message = doc.find("Message");
    if (message == doc.end() || !message->is_string()) {
      return Fail(ErrorCode::kInvalidArgument, "S3 event: an SNS notification without Message");
    }
    return ParseDocument(message->get_ref<const std::string&>(), false);
  }
  auto records = doc.find("Records");
  if (records == doc.end()) {
    return Fail(ErrorCode::kInvalidArgument, "S3 event: no Records (not an S3 event notification)");
  }
  return ParseRecords(*records);
}

}  // namespace

Result<std::string> DecodeS3Key(std::string_view encoded) {
  std::string key;
  key.reserve(encoded.size());
  for (size_t i = 0; i < encoded.size(); ++i) {
    const char c = encoded[i];
    if (c == '+') {
      key += ' ';
    } else if (c != '%') {
      key += c;
    } else {
      const int hi = i + 2 < encoded.size() ? HexDigit(encoded[i + 1]) : -1;
      const int lo = hi >= 0 ? HexDigit(encoded[i + 2]) : -1;
      if (lo < 0) {
        return Fail(ErrorCode::kInvalidArgument, "malformed %-escape at byte " + std::to_string(i));
      }
      key += static_cast<char>(hi << 4 | lo);
      i += 2;
    }
    if (key.size() > kMaxS3KeyBytes) {
      return Fail(ErrorCode::kInvalidArgument, "key longer than 1024 bytes");
    }
  }
  if (key.empty()) return Fail(ErrorCode::kInvalidArgument, "empty key");
  if (std::any_of(key.begin(), key.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
    return Fail(ErrorCode::kInvalidArgument, "key holds a control character (NUL, line break …)");
  }
  if (!IsCleanText(key)) return Fail(ErrorCode::kInvalidArgument, "key is not valid UTF-8");
  return key;
}

Result<std::vector<S3Event>> ParseS3Events(std::string_view document) {
  return ParseDocument(document, true);
}

std::string S3EventIdempotencyKey(const S3Event& event) {
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(event.time.time_since_epoch()).count();
  // Fields are joined with NUL: none of them can hold one (each is clean text).
  std::string identity;
  for (std::string_view part :
       {std::string_view(event.kind == S3EventKind::kCreated ? "created" : "removed"),
        std::string_view(event.bucket), std::string_view(event.key),
        std::string_view(event.version_id), std::string_view(event.etag),
        std::string_view(event.sequencer)}) {
    identity.append(part).push_back('\0');
  }
  identity += std::to_string(seconds);
  return "s3e_" + storage::Sha256Hex(identity).substr(0, kIdempotencyHexDigits);
}

bool S3EventFilter::Matches(const S3Event& event) const {
  auto any = [](const std::vector<std::string>& list, auto&& match) {
    return list.empty() || std::any_of(list.begin(), list.end(), match);
  };
  return any(buckets, [&](const std::string& b) { return b == event.bucket; }) &&
         any(prefixes, [&](const std::string& p) { return event.key.starts_with(p); }) &&
         any(suffixes, [&](const std::string& s) { return EndsWithNoCase(event.key, s); });
}

Result<void> S3EventFilter::Validate() const {
  for (const auto& bucket : buckets) {
    if (!IsBucketName(bucket)) {
      return Fail(ErrorCode::kInvalidArgument, "\"" + bucket + "\" is not a bucket name");
    }
  }
  for (const auto* list : {&prefixes, &suffixes}) {
    for (const auto& entry : *list) {
      if (entry.empty() || entry.size() > kMaxS3KeyBytes) {
        return Fail(ErrorCode::kInvalidArgument,
                    "prefixes and suffixes must be 1 to 1024 bytes long");
      }
    }
  }
  return {};
}

}  // namespace imgorigin::ingest
