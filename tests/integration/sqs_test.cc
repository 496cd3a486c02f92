// SQS and SNS beyond the job queue contract, against fauxqs behind a proxy that checks SigV4
// with AWS's own signer (fauxqs_stub.mjs; fauxqs itself checks no signature): the redrive
// policy's backstop, signatures and AWS error answers mapped to error codes, SNS Publish
// delivered through a subscribed queue, and S3 event notifications unwrapped from what such a
// queue receives.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ingest/s3_event.h"
#include "storage/s3_client.h"
#include "storage/sns.h"
#include "tests/integration/fauxqs_harness.h"

namespace imgorigin::testing {
namespace {

using namespace std::chrono_literals;
using common::ErrorCode;
using nlohmann::json;

class SqsTest : public ::testing::Test {
 protected:
  void SetUp() override { IMGORIGIN_REQUIRE_STUB(Fauxqs()); }

  std::shared_ptr<storage::AwsApiClient> Client(const std::string& service) {
    auto client = FauxqsClient(service);
    EXPECT_TRUE(client) << client.error().message;
    return client ? *client : nullptr;
  }
};

std::string QueueArn(const storage::AwsApiClient& sqs, const std::string& url) {
  auto answer = sqs.CallJson("AmazonSQS.GetQueueAttributes",
                             {{"QueueUrl", url}, {"AttributeNames", json::array({"QueueArn"})}});
  return answer ? (*answer)["Attributes"].value("QueueArn", "") : "";
}

// A job received maxReceiveCount times without an Ack, Retry or Bury (its worker died each
// time) is moved to the dead letters by SQS on the next receive, and listed as such.
TEST_F(SqsTest, RedrivePolicyMovesAJobNobodyFinishes) {
  auto queue = OpenSqsJobQueue("backstop", /*max_receive_count=*/2);
  ASSERT_TRUE(queue) << queue.error().message;
  EXPECT_EQ((*queue)->max_receive_count(), 2);
  ASSERT_TRUE((*queue)->Enqueue({.kind = "eager", .payload = "poison"}));
  for (int attempt = 1; attempt <= 2; ++attempt) {
    auto jobs = (*queue)->Receive(1, 5s, 1s);  // the wait covers the last delivery's visibility
    ASSERT_TRUE(jobs && jobs->size() == 1) << attempt;
    EXPECT_EQ((*jobs)[0].attempt, attempt);
  }
  auto none = (*queue)->Receive(1, 2s, 1s);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto page = (*queue)->ListDead("", 10);
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->letters.size(), 1u);
  EXPECT_EQ(page->letters[0].payload, "poison");
  EXPECT_EQ(page->letters[0].kind, "eager");
  EXPECT_EQ(page->letters[0].attempts, 2);
  EXPECT_NE(page->letters[0].error.find("redrive policy"), std::string::npos);
  EXPECT_EQ((*queue)->Redrive({page->letters[0].id}).value_or(-1), 1);
  auto back = (*queue)->Receive(1, 1s, 30s);
  ASSERT_TRUE(back && back->size() == 1);
  EXPECT_EQ((*back)[0].attempt, 1);
}

// The dead-letter queue is found from the redrive policy; a queue without one cannot be a job
// queue (Bury would have nowhere to go).
TEST_F(SqsTest, OpenNeedsADeadLetterQueue) {
  auto sqs = Client("sqs");
  ASSERT_TRUE(sqs);
  ASSERT_TRUE(CreateQueue(*sqs, "no-dlq"));
  auto plain = ingest::SqsJobQueue::Open(sqs, {.queue = "no-dlq"});
  ASSERT_FALSE(plain);
  EXPECT_EQ(plain.error().code, ErrorCode::kInvalidArgument);
  auto missing = ingest::SqsJobQueue::Open(sqs, {.queue = "never-created"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("QueueDoesNotExist"), std::string::npos);
  auto queue = OpenSqsJobQueue("with-dlq");
  ASSERT_TRUE(queue) << queue.error().message;
  EXPECT_TRUE((*queue)->dead_letter_url().ends_with("/with-dlq-dead"));
}

// Every request is signed (the proxy recomputes each signature): a wrong secret is refused,
// for SQS's JSON protocol and SNS's query protocol alike.
TEST_F(SqsTest, WrongSignaturesAreRefused) {
  const long refused_before = StatCount(StubStats(Fauxqs().port("sqs")), "SignatureDoesNotMatch");
  for (const std::string service : {"sqs", "sns"}) {
    auto client = FauxqsClient(service, "not-the-secret");
    ASSERT_TRUE(client);
    common::Error error{ErrorCode::kInternal, "answered"};
    if (service == "sqs") {
      auto answer = (*client)->CallJson("AmazonSQS.ListQueues", json::object());
      if (!answer) error = answer.error();
    } else {
      auto answer = (*client)->CallQuery("ListTopics", "2010-03-31", {});
      if (!answer) error = answer.error();
    }
    EXPECT_EQ(error.code, ErrorCode::kPermissionDenied) << service << ": " << error.message;
    EXPECT_NE(error.message.find("SignatureDoesNotMatch"), std::string::npos);
  }
  EXPECT_EQ(StatCount(StubStats(Fauxqs().port("sqs")), "SignatureDoesNotMatch"),
            refused_before + 2);
}

TEST_F(SqsTest, AwsErrorsMapToErrorCodes) {
  auto sqs = Client("sqs");
  ASSERT_TRUE(sqs);
  // SQS's 400 ThrottlingException: retry later.
  auto throttled = CreateQueue(*sqs, "throttled-create");
  ASSERT_FALSE(throttled);
  EXPECT_EQ(throttled.error().code, ErrorCode::kUnavailable) << throttled.error().message;
  EXPECT_TRUE(CreateQueue(*sqs, "throttled-create"));
  // A bad parameter: SQS refuses it.
  auto plain = CreateQueue(*sqs, "plain");
  ASSERT_TRUE(plain);
  auto bad = sqs->CallJson("AmazonSQS.ReceiveMessage",
                           {{"QueueUrl", *plain}, {"MaxNumberOfMessages", 11}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kUpstreamFailed);
  EXPECT_NE(bad.error().message.find("SQS ReceiveMessage: 400 InvalidParameterValue"),
            std::string::npos)
      << bad.error().message;
  // Nothing listening: unavailable, within the connect timeout.
  storage::AwsApiClient::Config config{
      .service = "sqs", .region = "us-east-1", .endpoint = "http://127.0.0.1:1"};
  config.retry.retries = 0;
  auto nowhere = storage::AwsApiClient::Create(config, FauxqsEnv());
  ASSERT_TRUE(nowhere);
  auto unreachable = (*nowhere)->CallJson("AmazonSQS.ListQueues", json::object());
  ASSERT_FALSE(unreachable);
  EXPECT_EQ(unreachable.error().code, ErrorCode::kUnavailable);
  // A queue deleted under a job queue: SQS's refusal is the contract's kInternal.
  auto queue = OpenSqsJobQueue("deleted");
  ASSERT_TRUE(queue);
  ASSERT_TRUE(sqs->CallJson("AmazonSQS.DeleteQueue", {{"QueueUrl", (*queue)->queue_url()}}));
  auto gone = (*queue)->Enqueue({.kind = "k", .payload = "p"});
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::kInternal);
}

// A message another sender put in the queue (an S3 event notification, say) is a job of kind ""
// with the body as payload, and Retry keeps it so.
TEST_F(SqsTest, ForeignMessagesComeWithAnEmptyKind) {
  auto queue = OpenSqsJobQueue("foreign");
  ASSERT_TRUE(queue);
  auto sqs = Client("sqs");
  ASSERT_TRUE(sqs->CallJson("AmazonSQS.SendMessage",
                            {{"QueueUrl", (*queue)->queue_url()}, {"MessageBody", "{\"x\":1}"}}));
  auto jobs = (*queue)->Receive(1, 1s, 30s);
  ASSERT_TRUE(jobs && jobs->size() == 1);
  EXPECT_EQ((*jobs)[0].kind, "");
  EXPECT_EQ((*jobs)[0].payload, "{\"x\":1}");
  ASSERT_TRUE((*queue)->Retry((*jobs)[0], 0ms, "not yet"));
  auto again = (*queue)->Receive(1, 1s, 30s);
  ASSERT_TRUE(again && again->size() == 1);
  EXPECT_EQ((*again)[0].kind, "");
  EXPECT_EQ((*again)[0].payload, "{\"x\":1}");
  EXPECT_EQ((*again)[0].attempt, 2);
  EXPECT_EQ((*again)[0].id, (*jobs)[0].id);
}

// SNS topic → subscribed SQS queue, with SNS's envelope around the message.
struct Subscribed {
  std::string topic_arn;
  std::string queue_url;
};

Subscribed Subscribe(const storage::AwsApiClient& sns, const storage::AwsApiClient& sqs,
                     const std::string& name) {
  Subscribed out;
  auto topic = sns.CallQuery("CreateTopic", "2010-03-31", {{"Name", name}});
  EXPECT_TRUE(topic) << topic.error().message;
  out.topic_arn = topic ? storage::S3XmlText(*topic, "TopicArn").value_or("") : "";
  auto queue = CreateQueue(sqs, name + "-sub");
  EXPECT_TRUE(queue);
  out.queue_url = queue.value_or("");
  auto subscribed = sns.CallQuery("Subscribe", "2010-03-31",
                                  {{"TopicArn", out.topic_arn},
                                   {"Protocol", "sqs"},
                                   {"Endpoint", QueueArn(sqs, out.queue_url)}});
  EXPECT_TRUE(subscribed) << subscribed.error().message;
  return out;
}

std::string ReceiveBody(const storage::AwsApiClient& sqs, const std::string& url) {
  auto answer =
      sqs.CallJson("AmazonSQS.ReceiveMessage", {{"QueueUrl", url}, {"WaitTimeSeconds", 2}}, 2s);
  if (!answer || !answer->contains("Messages")) return "";
  return (*answer)["Messages"][0].value("Body", "");
}

TEST_F(SqsTest, SnsPublishReachesASubscribedQueue) {
  auto sns = Client("sns");
  auto sqs = Client("sqs");
  ASSERT_TRUE(sns && sqs);
  const Subscribed sub = Subscribe(*sns, *sqs, "image-events");
  const std::string message = R"({"type":"image.ready","id":"abc"})";
  auto id = storage::SnsPublish(*sns, {.topic_arn = sub.topic_arn,
                                       .message = message,
                                       .attributes = {{"event_type", "image.ready"}}});
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_FALSE(id->empty());
  const json envelope = json::parse(ReceiveBody(*sqs, sub.queue_url), nullptr, false);
  ASSERT_TRUE(envelope.is_object());
  EXPECT_EQ(envelope.value("Type", ""), "Notification");
  EXPECT_EQ(envelope.value("MessageId", ""), *id);
  EXPECT_EQ(envelope.value("TopicArn", ""), sub.topic_arn);
  EXPECT_EQ(envelope.value("Message", ""), message);
  EXPECT_EQ(envelope["MessageAttributes"]["event_type"].value("Value", ""), "image.ready");

  auto missing = storage::SnsPublish(
      *sns, {.topic_arn = "arn:aws:sns:us-east-1:000000000000:nope", .message = message});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  auto invalid = storage::SnsPublish(*sns, {.topic_arn = sub.topic_arn, .message = ""});
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().code, ErrorCode::kInvalidArgument);
}

// S3 → SNS → SQS: the S3 event comes out of the queue as a foreign message in SNS's envelope,
// which the S3 event parser reads through.
TEST_F(SqsTest, S3EventThroughSnsIsRead) {
  auto sns = Client("sns");
  auto sqs = Client("sqs");
  ASSERT_TRUE(sns && sqs);
  const Subscribed sub = Subscribe(*sns, *sqs, "s3-events");
  const std::string event =
      R"({"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put",)"
      R"("s3":{"bucket":{"name":"media"},"object":{"key":"a.jpg","size":10}}}]})";
  ASSERT_TRUE(storage::SnsPublish(*sns, {.topic_arn = sub.topic_arn, .message = event}));
  auto events = ingest::ParseS3Events(ReceiveBody(*sqs, sub.queue_url));
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].bucket, "media");
  EXPECT_EQ((*events)[0].key, "a.jpg");
  EXPECT_EQ((*events)[0].kind, ingest::S3EventKind::kCreated);
}

}  // namespace
}  // namespace imgorigin::testing
