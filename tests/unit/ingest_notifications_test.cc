// Events, their ids and bodies, Standard Webhooks signatures (against the reference libraries'
// published vector), notify jobs and the Notifier's routing. Delivery over HTTP is in
// tests/integration/webhook_test.cc.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "ingest/notifications.h"

namespace imgorigin::ingest {
namespace {

using common::ErrorCode;
using nlohmann::json;

// 24 random bytes, base64: the secret of the Standard Webhooks reference libraries' tests.
constexpr char kSpecSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
// 32 bytes, a second secret for rotation.
constexpr char kOtherSecret[] = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

ImageRecord Record(ImageStatus status) {
  ImageRecord r;
  r.id = "0190a3f2-7b1c-7d2e-8f00-123456789abc";
  r.source_url = "local:///0190a3f2-7b1c-7d2e-8f00-123456789abc";
  r.status = status;
  r.facts = {"jpg", 640, 480, 12345, std::string(64, 'a')};
  r.metadata = {{"sku", "A-1"}};
  r.created = Timestamp(std::chrono::milliseconds(1714564800123));
  r.updated = Timestamp(std::chrono::milliseconds(1714564801456));
  return r;
}

Job DeadJob() {
  Job job;
  job.id = "42";
  job.kind = "eager";
  job.payload = R"({"image":"0190a3f2-7b1c-7d2e-8f00-123456789abc"})";
  job.attempt = 5;
  return job;
}

bool IsEventId(const std::string& id) {
  return std::regex_match(id, std::regex("msg_[0-9a-f]{32}"));
}

// The Standard Webhooks reference libraries' "sign function works" test
// (libraries/javascript/src/webhook.test.ts in github.com/standard-webhooks/standard-webhooks).
TEST(WebhookSignature, MatchesTheSpecVector) {
  auto key = DecodeWebhookSecret(kSpecSecret);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->size(), 24u);
  EXPECT_EQ(
      WebhookSignature(*key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})"),
      "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(WebhookSignature, HeadersCarryOneSignaturePerSecret) {
  auto a = DecodeWebhookSecret(kSpecSecret);
  auto b = DecodeWebhookSecret(kOtherSecret);
  ASSERT_TRUE(a && b);
  const Event event{"msg_0123456789abcdef0123456789abcdef", EventType::kImageReady, "{}"};
  const auto headers = WebhookHeaders(event, {*a, *b}, 1700000000);
  const std::string expected_signatures = WebhookSignature(*a, event.id, 1700000000, "{}") + " " +
                                          WebhookSignature(*b, event.id, 1700000000, "{}");
  EXPECT_NE(WebhookSignature(*a, event.id, 1700000000, "{}"),
            WebhookSignature(*b, event.id, 1700000000, "{}"));
  EXPECT_EQ(headers, (std::vector<std::string>{
                         "Content-Type: application/json",
                         "webhook-id: msg_0123456789abcdef0123456789abcdef",
                         "webhook-timestamp: 1700000000",
                         "webhook-signature: " + expected_signatures,
                         "Expect:",
                     }));
}

TEST(WebhookSecret, MalformedSecretsAreRefusedWithoutQuotingThem) {
  const std::string short_secret = "whsec_AAECAwQFBgcICQoLDA0ODw==";  // 16 bytes
  const std::string long_secret = "whsec_" + std::string(88, 'A');    // 66 bytes
  for (const std::string& secret :
       {std::string("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), std::string("whsec_not base64!"),
        std::string("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS"), short_secret, long_secret,
        std::string("whsec_")}) {
    auto key = DecodeWebhookSecret(secret);
    ASSERT_FALSE(key) << secret;
    EXPECT_EQ(key.error().code, ErrorCode::kInvalidArgument);
    if (secret.size() > 6) {
      EXPECT_EQ(key.error().message.find(secret.substr(6)), std::string::npos)
          << key.error().message;
    }
  }
  EXPECT_TRUE(DecodeWebhookSecret(kOtherSecret));
}

TEST(Events, ImageEventTypeFollowsTheStatus) {
  EXPECT_EQ(ImageEvent(Record(ImageStatus::kReady))->type, EventType::kImageReady);
  EXPECT_EQ(ImageEvent(Record(ImageStatus::kFailed))->type, EventType::kImageFailed);
  EXPECT_EQ(ImageEvent(Record(ImageStatus::kDeleted))->type, EventType::kImageDeleted);
  auto pending = ImageEvent(Record(ImageStatus::kPending));
  ASSERT_FALSE(pending);
  EXPECT_EQ(pending.error().code, ErrorCode::kInvalidArgument);
}

TEST(Events, ImageEventBodyIsTypeTimestampAndTheRecord) {
  const ImageRecord record = Record(ImageStatus::kReady);
  auto event = ImageEvent(record);
  ASSERT_TRUE(event);
  EXPECT_TRUE(event->body.starts_with(R"({"type":"image.ready","timestamp":)")) << event->body;
  const json body = json::parse(event->body);
  EXPECT_EQ(body.size(), 3u);
  EXPECT_EQ(body["timestamp"], "2024-05-01T12:00:01.456Z");
  EXPECT_EQ(body["data"], ToJson(record));
  EXPECT_EQ(body["data"]["metadata"]["sku"], "A-1");
}

TEST(Events, IdsAreStableForOneEventAndDifferBetweenEvents) {
  ImageRecord record = Record(ImageStatus::kReady);
  auto first = ImageEvent(record);
  auto again = ImageEvent(record);
  ASSERT_TRUE(first && again);
  EXPECT_TRUE(IsEventId(first->id)) << first->id;
  EXPECT_EQ(*first, *again);

  record.updated += std::chrono::milliseconds(1);
  EXPECT_NE(ImageEvent(record)->id, first->id);
  record.status = ImageStatus::kDeleted;
  EXPECT_NE(ImageEvent(record)->id, ImageEvent(Record(ImageStatus::kReady))->id);
  record.id = "0190a3f2-7b1c-7d2e-8f00-123456789abd";
  EXPECT_NE(ImageEvent(record)->id, first->id);
}

TEST(Events, DeadLetterEventNamesTheJob) {
  const Timestamp at(std::chrono::milliseconds(1714564802000));
  const Event event = DeadLetterEvent("jobs", DeadJob(), "decode failed", at);
  EXPECT_EQ(event.type, EventType::kJobDeadLettered);
  EXPECT_TRUE(IsEventId(event.id)) << event.id;
  const json body = json::parse(event.body);
  EXPECT_EQ(body["type"], "job.dead_lettered");
  EXPECT_EQ(body["timestamp"], "2024-05-01T12:00:02.000Z");
  EXPECT_EQ(body["data"], (json{{"queue", "jobs"},
                                {"kind", "eager"},
                                {"job_id", "42"},
                                {"attempts", 5},
                                {"error", "decode failed"},
                                {"payload", {{"image", "0190a3f2-7b1c-7d2e-8f00-123456789abc"}}}}));

  EXPECT_EQ(DeadLetterEvent("jobs", DeadJob(), "other words", at + std::chrono::seconds(1)).id,
            event.id);
  Job again = DeadJob();
  again.attempt = 6;
  EXPECT_NE(DeadLetterEvent("jobs", again, "decode failed", at).id, event.id);
  EXPECT_NE(DeadLetterEvent("notify", DeadJob(), "decode failed", at).id, event.id);
}

TEST(Events, DeadLetterEventKeepsOnlyJsonPayloadsAndCleanErrors) {
  Job job = DeadJob();
  job.payload = "\xff\xfe not json";
  const Event event = DeadLetterEvent("jobs", job, "bad \xff byte\nthere", Timestamp{});
  const json data = json::parse(event.body)["data"];
  EXPECT_FALSE(data.contains("payload"));
  EXPECT_EQ(data["error"], "bad ? byte there");

  job.payload = "[1,2,3]";  // JSON, but not an object
  EXPECT_FALSE(
      json::parse(DeadLetterEvent("jobs", job, "", Timestamp{}).body)["data"].contains("payload"));
}

TEST(NotifyJobs, EncodeDecodeRoundTrips) {
  const NotifyJob job{"https://hooks.example.com/in?x=1",
                      *ImageEvent(Record(ImageStatus::kFailed))};
  auto decoded = DecodeNotifyJob(EncodeNotifyJob(job));
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(*decoded, job);
}

TEST(NotifyJobs, MalformedPayloadsAreInvalid) {
  const std::string id = "msg_0123456789abcdef0123456789abcdef";
  for (const std::string& payload : {
           std::string("not json"),
           std::string("[]"),
           std::string(R"({"to":"sns","id":")" + id + R"(","type":"image.ready"})"),
           std::string(R"({"to":"","id":")" + id + R"(","type":"image.ready","body":"{}"})"),
           std::string(R"({"to":"sns","id":"msg_1.2","type":"image.ready","body":"{}"})"),
           std::string(R"({"to":"sns","id":")" + id + R"(","type":"image.made","body":"{}"})"),
           std::string(R"({"to":"sns","id":")" + id + R"(","type":"image.ready","body":7})"),
       }) {
    auto job = DecodeNotifyJob(payload);
    ASSERT_FALSE(job) << payload;
    EXPECT_EQ(job.error().code, ErrorCode::kInvalidArgument);
  }
}

NotificationsConfig Webhooks() {
  NotificationsConfig config;
  config.webhook_urls = {"https://a.example.com/hook", "http://b.example.com:8080/hook"};
  config.webhook_secrets = {kSpecSecret, kOtherSecret};
  return config;
}

TEST(NotificationsConfig, Validate) {
  EXPECT_TRUE(NotificationsConfig().Validate());
  EXPECT_TRUE(Webhooks().Validate());
  auto invalid = [](auto change) {
    NotificationsConfig config = Webhooks();
    change(config);
    auto r = config.Validate();
    return !r && r.error().code == ErrorCode::kInvalidArgument;
  };
  EXPECT_TRUE(invalid([](auto& c) { c.webhook_secrets.clear(); }));
  EXPECT_TRUE(invalid([](auto& c) { c.webhook_secrets.push_back("whsec_short"); }));
  EXPECT_TRUE(invalid([](auto& c) { c.webhook_urls.push_back("ftp://x.example.com/"); }));
  EXPECT_TRUE(invalid([](auto& c) { c.webhook_urls.push_back("https://x.example.com/a b"); }));
  EXPECT_TRUE(invalid([](auto& c) { c.webhook_urls.push_back(c.webhook_urls[0]); }));
  EXPECT_TRUE(invalid([](auto& c) { c.timeout = std::chrono::milliseconds(0); }));
  EXPECT_TRUE(invalid([](auto& c) { c.connect_timeout = std::chrono::seconds(20); }));
  EXPECT_TRUE(invalid([](auto& c) { c.timeout = std::chrono::minutes(6); }));
  EXPECT_TRUE(invalid([](auto& c) { c.sns_topic_arn = "images"; }));
  EXPECT_TRUE(invalid([](auto& c) { c.sns_topic_arn = "arn:aws:sqs:eu-west-1:123456789012:q"; }));
  EXPECT_FALSE(invalid([](auto& c) { c.sns_topic_arn = "arn:aws:sns:eu-west-1:123456789012:t"; }));
}

TEST(Notifier, JobsFanOutToEveryDestinationThatWantsTheEvent) {
  NotificationsConfig config = Webhooks();
  config.sns_topic_arn = "arn:aws:sns:eu-west-1:123456789012:images";
  config.events = {EventType::kImageReady, EventType::kJobDeadLettered};
  auto notifier = Notifier::Create(config);
  ASSERT_TRUE(notifier) << notifier.error().message;

  const Event ready = *ImageEvent(Record(ImageStatus::kReady));
  const auto jobs = (*notifier)->Jobs(ready);
  ASSERT_EQ(jobs.size(), 3u);
  std::vector<std::string> destinations;
  for (const NewJob& job : jobs) {
    EXPECT_EQ(job.kind, kNotifyJobKind);
    EXPECT_LE(job.payload.size(), kMaxJobPayloadBytes);
    auto decoded = DecodeNotifyJob(job.payload);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->event, ready);
    destinations.push_back(decoded->destination);
  }
  EXPECT_EQ(destinations,
            (std::vector<std::string>{config.webhook_urls[0], config.webhook_urls[1], "sns"}));
  EXPECT_TRUE((*notifier)->Jobs(*ImageEvent(Record(ImageStatus::kFailed))).empty());
}

TEST(Notifier, DeliverSkipsWhatIsNoLongerConfigured) {
  NotificationsConfig config = Webhooks();
  config.events = {EventType::kImageReady};
  auto notifier = Notifier::Create(config);
  ASSERT_TRUE(notifier);
  const Event ready = *ImageEvent(Record(ImageStatus::kReady));
  const Event failed = *ImageEvent(Record(ImageStatus::kFailed));
  for (const NotifyJob& job :
       {NotifyJob{"https://gone.example.com/hook", ready},
        NotifyJob{config.webhook_urls[0], failed}, NotifyJob{"sns", ready}}) {
    auto delivery = (*notifier)->Deliver(EncodeNotifyJob(job));
    ASSERT_TRUE(delivery) << delivery.error().message;
    EXPECT_EQ(delivery->outcome, DeliveryOutcome::kSkipped) << job.destination;
  }
  auto bad = (*notifier)->Deliver("{}");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST(Notifier, SnsGoesThroughTheConnectedPublisher) {
  NotificationsConfig config;
  config.sns_topic_arn = "arn:aws:sns:eu-west-1:123456789012:images";
  auto notifier = Notifier::Create(config);
  ASSERT_TRUE(notifier);
  const Event ready = *ImageEvent(Record(ImageStatus::kReady));
  const auto jobs = (*notifier)->Jobs(ready);
  ASSERT_EQ(jobs.size(), 1u);

  auto unconnected = (*notifier)->Deliver(jobs[0].payload);
  ASSERT_FALSE(unconnected);
  EXPECT_EQ(unconnected.error().code, ErrorCode::kUnavailable);

  std::vector<std::pair<std::string, Event>> published;
  bool fail = true;
  (*notifier)->ConnectSns([&](const std::string& arn, const Event& event) -> common::Result<void> {
    if (fail) return common::Fail(ErrorCode::kUnavailable, "SNS is down");
    published.emplace_back(arn, event);
    return {};
  });
  auto failed = (*notifier)->Deliver(jobs[0].payload);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message, "SNS is down");
  fail = false;
  auto delivered = (*notifier)->Deliver(jobs[0].payload);
  ASSERT_TRUE(delivered) << delivered.error().message;
  EXPECT_EQ(delivered->outcome, DeliveryOutcome::kDelivered);
  ASSERT_EQ(published.size(), 1u);
  EXPECT_EQ(published[0].first, config.sns_topic_arn);
  EXPECT_EQ(published[0].second, ready);
}

}  // namespace
}  // namespace imgorigin::ingest
