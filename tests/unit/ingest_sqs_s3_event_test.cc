// S3 event notifications unwrapped from SQS message bodies: straight from S3, in SNS's envelope,
// the s3:TestEvent, and bodies that are none of these.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ingest/sqs_s3_event.h"

namespace imgorigin::ingest {
namespace {

using common::ErrorCode;

const std::string kEvent =
    R"({"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",)"
    R"("eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"media"},)"
    R"("object":{"key":"uploads/a.jpg","size":1024}}}]})";
const std::string kTestEvent =
    R"({"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-05-01T12:00:00.000Z",)"
    R"("Bucket":"media","RequestId":"R","HostId":"H"})";

std::string InSns(const std::string& message) {
  return nlohmann::json{{"Type", "Notification"},
                        {"MessageId", "m-1"},
                        {"TopicArn", "arn:aws:sns:us-east-1:123456789012:s3-events"},
                        {"Subject", "Amazon S3 Notification"},
                        {"Message", message},
                        {"Timestamp", "2024-05-01T12:00:00.000Z"}}
      .dump();
}

TEST(UnwrapS3EventMessage, StraightFromS3) {
  auto m = UnwrapS3EventMessage(kEvent);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->kind, S3EventMessage::Kind::kEvent);
  EXPECT_FALSE(m->via_sns);
  EXPECT_EQ(m->event_json, kEvent);
}

TEST(UnwrapS3EventMessage, FromAnSnsEnvelope) {
  auto m = UnwrapS3EventMessage(InSns(kEvent));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->kind, S3EventMessage::Kind::kEvent);
  EXPECT_TRUE(m->via_sns);
  EXPECT_EQ(m->event_json, kEvent);
}

TEST(UnwrapS3EventMessage, RecognisesTheTestEventEitherWay) {
  for (const std::string& body : {kTestEvent, InSns(kTestEvent)}) {
    auto m = UnwrapS3EventMessage(body);
    ASSERT_TRUE(m) << body;
    EXPECT_EQ(m->kind, S3EventMessage::Kind::kTestEvent);
    EXPECT_EQ(m->event_json, kTestEvent);
  }
}

TEST(UnwrapS3EventMessage, RefusesAnythingElse) {
  for (const std::string& body : {
           std::string(""),
           std::string("not json"),
           std::string("[]"),
           std::string("{}"),
           std::string(R"({"Records":[]})"),
           std::string(R"({"Records":[{"eventSource":"aws:sqs"}]})"),
           std::string(R"({"Records":[{"eventSource":"aws:s3"}, 1]})"),
           InSns("hello"),
           InSns(R"({"Records":[{"eventSource":"aws:dynamodb"}]})"),
           InSns(InSns(kEvent)),  // one envelope only
           std::string(R"({"Type":"Notification","Message":{"Records":[]}})"),
           std::string(R"({"Type":"SubscriptionConfirmation","Message":"x"})"),
       }) {
    auto m = UnwrapS3EventMessage(body);
    ASSERT_FALSE(m) << body;
    EXPECT_EQ(m.error().code, ErrorCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace imgorigin::ingest
