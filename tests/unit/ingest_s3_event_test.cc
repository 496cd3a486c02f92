// S3 event notifications as AWS S3 (to SQS, through SNS) and MinIO's webhook target send them,
// hostile documents, key decoding, idempotency keys and the filter.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ingest/s3_event.h"

namespace imgorigin::ingest {
namespace {

using common::ErrorCode;

// An AWS S3 notification as delivered to SQS (event structure version 2.1, trimmed of the
// fields imgorigin does not read, which stay in to show they are ignored).
constexpr char kAwsPut[] = R"({"Records":[{
  "eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-west-1",
  "eventTime":"2024-05-01T12:00:00.123Z","eventName":"ObjectCreated:Put",
  "userIdentity":{"principalId":"AWS:AIDAEXAMPLE"},
  "requestParameters":{"sourceIPAddress":"203.0.113.9"},
  "s3":{"s3SchemaVersion":"1.0","configurationId":"images",
        "bucket":{"name":"shop-media","ownerIdentity":{"principalId":"A3EXAMPLE"},
                  "arn":"arn:aws:s3:::shop-media"},
        "object":{"key":"photos/My+Trip/%C3%A9t%C3%A9+1.jpg","size":48213,
                  "eTag":"0123456789abcdef0123456789abcdef","versionId":"3HL4kqtJlcpXroDTDmJ",
                  "sequencer":"0055AED6DCD90281E5"}}}]})";

// MinIO's webhook target: the same records, "s3:"-prefixed names, EventName and Key on top.
constexpr char kMinioDelete[] = R"({"EventName":"s3:ObjectRemoved:Delete",
  "Key":"uploads/a b.png","Records":[{"eventVersion":"2.0","eventSource":"minio:s3",
  "awsRegion":"","eventTime":"2024-05-01T12:00:05.000Z","eventName":"s3:ObjectRemoved:Delete",
  "s3":{"s3SchemaVersion":"1.0","configurationId":"Config",
        "bucket":{"name":"uploads","arn":"arn:aws:s3:::uploads"},
        "object":{"key":"a+b.png","sequencer":"17CB2F1B4A1D2E8A"}}}]})";

std::string OneRecord(const std::string& object, const std::string& name = "ObjectCreated:Put") {
  return R"({"Records":[{"eventName":")" + name + R"(","s3":{"bucket":{"name":"b"},"object":)" +
         object + "}}]}";
}

ErrorCode CodeOf(const std::string& document) {
  auto events = ParseS3Events(document);
  EXPECT_FALSE(events) << document;
  return events ? ErrorCode::kInternal : events.error().code;
}

TEST(S3Events, ParsesAnAwsPut) {
  auto events = ParseS3Events(kAwsPut);
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 1u);
  const S3Event& e = (*events)[0];
  EXPECT_EQ(e.kind, S3EventKind::kCreated);
  EXPECT_EQ(e.name, "ObjectCreated:Put");
  EXPECT_EQ(e.bucket, "shop-media");
  EXPECT_EQ(e.key, "photos/My Trip/\xc3\xa9t\xc3\xa9 1.jpg");  // "photos/My Trip/été 1.jpg"
  EXPECT_EQ(e.size, 48213);
  EXPECT_EQ(e.etag, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(e.version_id, "3HL4kqtJlcpXroDTDmJ");
  EXPECT_EQ(e.sequencer, "0055AED6DCD90281E5");
  EXPECT_EQ(std::chrono::system_clock::to_time_t(e.time), 1714564800);
}

TEST(S3Events, ParsesMinioRecords) {
  auto events = ParseS3Events(kMinioDelete);
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 1u);
  const S3Event& e = (*events)[0];
  EXPECT_EQ(e.kind, S3EventKind::kRemoved);
  EXPECT_EQ(e.name, "s3:ObjectRemoved:Delete");
  EXPECT_EQ(e.bucket, "uploads");
  EXPECT_EQ(e.key, "a b.png");
  EXPECT_EQ(e.size, 0);
  EXPECT_EQ(e.etag, "");
  EXPECT_EQ(e.sequencer, "17CB2F1B4A1D2E8A");
}

TEST(S3Events, UnwrapsAnSnsNotificationOnce) {
  const std::string sns = R"({"Type":"Notification","MessageId":"m-1","TopicArn":"arn:aws:sns:x",
    "Message":)" + nlohmann::json(std::string(kAwsPut)).dump() +
                          "}";
  auto events = ParseS3Events(sns);
  ASSERT_TRUE(events) << events.error().message;
  EXPECT_EQ(*events, *ParseS3Events(kAwsPut));

  const std::string twice =
      R"({"Type":"Notification","Message":)" + nlohmann::json(sns).dump() + "}";
  EXPECT_EQ(CodeOf(twice), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(R"({"Type":"Notification","Message":7})"), ErrorCode::kInvalidArgument);
}

TEST(S3Events, TestEventHasNoRecords) {
  auto events = ParseS3Events(R"({"Service":"Amazon S3","Event":"s3:TestEvent",
    "Time":"2024-05-01T12:00:00.000Z","Bucket":"shop-media","RequestId":"R","HostId":"H"})");
  ASSERT_TRUE(events) << events.error().message;
  EXPECT_TRUE(events->empty());
}

TEST(S3Events, KindsAndQuotedEtags) {
  auto removed = ParseS3Events(OneRecord(R"({"key":"k"})", "LifecycleExpiration:Delete"));
  ASSERT_TRUE(removed);
  EXPECT_EQ((*removed)[0].kind, S3EventKind::kRemoved);
  auto copy = ParseS3Events(OneRecord(R"({"key":"k","eTag":"\"abc\""})", "s3:ObjectCreated:Copy"));
  ASSERT_TRUE(copy);
  EXPECT_EQ((*copy)[0].kind, S3EventKind::kCreated);
  EXPECT_EQ((*copy)[0].etag, "abc");
  // Other kinds are left out, not refused.
  for (const char* name : {"ObjectRestore:Completed", "s3:ObjectAccessed:Get", "ObjectTagging:Put",
                           "Replication:OperationFailedReplication"}) {
    auto events = ParseS3Events(OneRecord(R"({"key":"k"})", name));
    ASSERT_TRUE(events) << name;
    EXPECT_TRUE(events->empty()) << name;
  }
}

TEST(S3Events, MalformedDocumentsAreInvalidArguments) {
  for (const std::string& document : std::vector<std::string>{
           std::string(""),
           std::string("{"),
           std::string("[]"),
           std::string("null"),
           std::string(R"({"records":[]})"),
           std::string(R"({"Records":{}})"),
           std::string(R"({"Records":[7]})"),
           std::string(R"({"Records":[{"s3":{}}]})"),
           std::string(R"({"Records":[{"eventName":5}]})"),
           std::string(R"({"Records":[{"eventName":"ObjectCreated:Put"}]})"),
           std::string(R"({"Records":[{"eventName":"ObjectCreated:Put","s3":[]}]})"),
           std::string(
               R"({"Records":[{"eventName":"ObjectCreated:Put","s3":{"object":{"key":"k"}}}]})"),
           OneRecord(R"({})"),
           OneRecord(R"({"key":7})"),
           OneRecord(R"({"key":""})"),
           OneRecord(R"({"key":"k","size":-1})"),
           OneRecord(R"({"key":"k","size":1.5})"),
           OneRecord(R"({"key":"k","size":"12"})"),
           OneRecord(R"({"key":"k","eTag":{}})"),
           OneRecord(R"({"key":"k","sequencer":["x"]})"),
           R"({"Records":[{"eventName":"ObjectCreated:Put","eventTime":"yesterday",)"
           R"("s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]})",
           R"({"Records":[{"eventName":"ObjectCreated:Put",)"
           R"("s3":{"bucket":{"name":"a/b"},"object":{"key":"k"}}}]})",
       }) {
    EXPECT_EQ(CodeOf(document), ErrorCode::kInvalidArgument) << document;
  }
}

TEST(S3Events, ErrorsNameTheRecordAndField) {
  auto events =
      ParseS3Events(R"({"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},)"
                    R"("object":{"key":"ok"}}},{"eventName":"ObjectCreated:Put",)"
                    R"("s3":{"bucket":{"name":"b"},"object":{"key":"bad%zz"}}}]})");
  ASSERT_FALSE(events);
  EXPECT_EQ(events.error().message,
            "S3 event Records[1].s3.object.key: malformed %-escape at byte 3");
}

TEST(S3Events, RecordCountIsBounded) {
  auto document = [](size_t count) {
    std::string records;
    for (size_t i = 0; i < count; ++i) {
      if (i > 0) records += ',';
      records += R"({"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},)"
                 R"("object":{"key":"k"}}})";
    }
    return R"({"Records":[)" + records + "]}";
  };
  EXPECT_EQ(CodeOf(document(kMaxS3EventRecords + 1)), ErrorCode::kInvalidArgument);
  auto at_limit = ParseS3Events(document(kMaxS3EventRecords));
  ASSERT_TRUE(at_limit) << at_limit.error().message;
  EXPECT_EQ(at_limit->size(), kMaxS3EventRecords);
}

TEST(S3Keys, FormDecoding) {
  EXPECT_EQ(DecodeS3Key("photos/My+Trip/%C3%A9t%C3%A9+1.jpg"),
            "photos/My Trip/\xc3\xa9t\xc3\xa9 1.jpg");
  EXPECT_EQ(DecodeS3Key("a%2Bb%20c%25d"), "a+b c%d");
  EXPECT_EQ(DecodeS3Key("%e6%97%a5%E6%9C%AC"), "\xe6\x97\xa5\xe6\x9c\xac");  // 日本
  EXPECT_EQ(DecodeS3Key("plain.jpg"), "plain.jpg");
  EXPECT_EQ(DecodeS3Key(std::string(kMaxS3KeyBytes, 'k')), std::string(kMaxS3KeyBytes, 'k'));
}

TEST(S3Keys, BadKeysAreRefused) {
  for (const std::string& key : {
           std::string(""),
           std::string("%"),
           std::string("abc%4"),
           std::string("%zz"),
           std::string("%4g"),
           std::string("a%00b"),      // NUL
           std::string("a%0Ab"),      // line break
           std::string("%C3"),        // cut UTF-8
           std::string("%C3%28"),     // invalid continuation
           std::string("%C0%AF"),     // overlong "/"
           std::string("%ED%A0%80"),  // surrogate
           std::string("%FF"),
           std::string(kMaxS3KeyBytes + 1, 'k'),
           std::string(kMaxS3KeyBytes, 'k') + "%41",
       }) {
    auto decoded = DecodeS3Key(key);
    ASSERT_FALSE(decoded) << key;
    EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidArgument) << key;
  }
}

TEST(S3Events, IdempotencyKeysAreStablePerEvent) {
  const S3Event put = (*ParseS3Events(kAwsPut))[0];
  const std::string key = S3EventIdempotencyKey(put);
  EXPECT_TRUE(key.starts_with("s3e_")) << key;
  EXPECT_EQ(key.size(), 4u + 32u);
  EXPECT_EQ(S3EventIdempotencyKey((*ParseS3Events(kAwsPut))[0]), key);

  auto differs = [&](auto change) {
    S3Event other = put;
    change(other);
    return S3EventIdempotencyKey(other) != key;
  };
  EXPECT_TRUE(differs([](S3Event& e) { e.kind = S3EventKind::kRemoved; }));
  EXPECT_TRUE(differs([](S3Event& e) { e.bucket = "other"; }));
  EXPECT_TRUE(differs([](S3Event& e) { e.key += "x"; }));
  EXPECT_TRUE(differs([](S3Event& e) { e.etag = "ffff"; }));
  EXPECT_TRUE(differs([](S3Event& e) { e.sequencer = "0055AED6DCD90281E6"; }));
  EXPECT_TRUE(differs([](S3Event& e) { e.version_id = "v2"; }));
  EXPECT_TRUE(differs([](S3Event& e) { e.time += std::chrono::seconds(1); }));
  // Fields are delimited: moving a byte from one to the next changes the key.
  EXPECT_TRUE(differs([](S3Event& e) {
    e.bucket = "shop-medi";
    e.key = "a" + e.key;
  }));
  EXPECT_FALSE(differs([](S3Event& e) { e.size = 1; }));  // not part of what identifies it
}

TEST(S3EventFilter, BucketsPrefixesAndCaseInsensitiveSuffixes) {
  S3Event event;
  event.bucket = "shop-media";
  event.key = "photos/IMG_0001.JPG";
  EXPECT_TRUE(S3EventFilter().Matches(event));

  S3EventFilter filter;
  filter.buckets = {"other", "shop-media"};
  filter.prefixes = {"uploads/", "photos/"};
  filter.suffixes = {".png", ".jpg"};
  EXPECT_TRUE(filter.Validate());
  EXPECT_TRUE(filter.Matches(event));

  S3Event other = event;
  other.bucket = "shop";
  EXPECT_FALSE(filter.Matches(other));
  other = event;
  other.key = "Photos/IMG_0001.JPG";  // prefixes are case-sensitive, as keys are
  EXPECT_FALSE(filter.Matches(other));
  other = event;
  other.key = "photos/IMG_0001.JPG.txt";
  EXPECT_FALSE(filter.Matches(other));
  other.key = "photos/a.jpg";
  EXPECT_TRUE(filter.Matches(other));
  other.key = "jpg";
  EXPECT_FALSE(filter.Matches(other));

  filter.prefixes.push_back("");
  EXPECT_FALSE(filter.Validate());
  filter.prefixes.pop_back();
  filter.buckets.push_back("bad/bucket");
  EXPECT_FALSE(filter.Validate());
}

}  // namespace
}  // namespace imgorigin::ingest
