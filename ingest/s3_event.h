// S3 event notifications (DESIGN.md §6): what a bucket says happened to its objects, as AWS S3
// sends it to SQS or SNS and as MinIO's webhook target POSTs it, turned into a list of object
// changes the ingest worker acts on.
//
// The shape read is AWS's ({"Records": [{"eventName": "ObjectCreated:Put", "eventTime": …,
// "s3": {"bucket": {"name": …}, "object": {"key": …, "size": …, "eTag": …, "sequencer": …}}}]});
// MinIO sends the same records ("s3:"-prefixed names) with "EventName" and "Key" beside them,
// which are ignored. Also understood: an SNS envelope around such a document ({"Type":
// "Notification", "Message": "<the document as a string>"}, one level, what an SQS queue
// subscribed to a topic receives without raw delivery), and the s3:TestEvent S3 sends when a
// notification is configured, which yields no records.
//
// Object keys arrive form-encoded ("+" is a space, "%XX" a byte) and are decoded here: the result
// must be UTF-8 without control characters and at most 1024 bytes (S3's own limit), or the whole
// document is refused. Records of other event kinds (ObjectRestore, ObjectTagging, Replication …)
// are left out, not refused.
//
// Errors: kInvalidArgument with a message naming the record and field at fault, for anything that
// is not such a document (malformed JSON, wrong types, missing fields, more than
// kMaxS3EventRecords records, a bad key). The caller bounds the body's size. Pure functions; any
// thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace imgorigin::ingest {

inline constexpr size_t kMaxS3EventRecords = 1000;
inline constexpr size_t kMaxS3KeyBytes = 1024;

enum class S3EventKind {
  kCreated,  // ObjectCreated:* (Put, Post, Copy, CompleteMultipartUpload)
  kRemoved,  // ObjectRemoved:* (Delete, DeleteMarkerCreated), LifecycleExpiration:*
};

struct S3Event {
  S3EventKind kind = S3EventKind::kCreated;
  std::string name;  // eventName as sent, e.g. "ObjectCreated:Put" or "s3:ObjectRemoved:Delete"
  std::string bucket;
  std::string key;                               // decoded: "photos/My Trip/été 1.jpg"
  int64_t size = 0;                              // bytes; 0 when not sent (removals)
  std::string etag;                              // without quotes; "" when not sent (removals)
  std::string version_id;                        // "" for unversioned buckets
  std::string sequencer;                         // orders events on one key; "" when not sent
  std::chrono::system_clock::time_point time{};  // eventTime to the second; epoch when not sent

  bool operator==(const S3Event&) const = default;
};

// Parses one notification document (or its SNS envelope).
common::Result<std::vector<S3Event>> ParseS3Events(std::string_view document);

// Form-decodes an S3 event key ("My+Trip%2F%C3%A9t%C3%A9" → "My Trip/été"); kInvalidArgument on
// a malformed escape, a key that is empty, too long, not UTF-8 or holds control characters.
common::Result<std::string> DecodeS3Key(std::string_view encoded);

// A stable key for deduplicating replays of one event (S3 delivers at least once, and a document
// may be POSTed again): "s3e_" + 32 hex digits over kind, bucket, key, version, ETag, sequencer
// and time. The same event always gives the same key; two changes of one object differ at least
// in their sequencer (AWS) or time.
std::string S3EventIdempotencyKey(const S3Event& event);

// Which objects matter (ingest.events.*). Each list empty = no restriction.
struct S3EventFilter {
  std::vector<std::string> buckets;   // exact names
  std::vector<std::string> prefixes;  // key starts with one of these (case-sensitive)
  // key ends with one of these, ignoring ASCII case (".jpg" takes "IMG_1.JPG", as cameras write
  // it; unlike S3's own notification filters, which are case-sensitive).
  std::vector<std::string> suffixes;

  bool Matches(const S3Event& event) const;
  // Entries must be non-empty; prefixes and suffixes at most kMaxS3KeyBytes.
  common::Result<void> Validate() const;
};

}  // namespace imgorigin::ingest
