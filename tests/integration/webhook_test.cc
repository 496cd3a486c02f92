// Webhook delivery against a real HTTP receiver (tests/integration/webhook_stub.mjs) that checks
// every signature with Node's crypto, an implementation independent of imgorigin's: signed with
// every configured secret, the same webhook-id on every retry, 5xx and 3xx as retryable errors,
// 410 Gone disabling the endpoint, a stalled endpoint cut off at the timeout, and an oversized
// answer still counting as delivered.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "ingest/notifications.h"
#include "tests/integration/node_stub.h"

namespace imgorigin::testing {
namespace {

using common::ErrorCode;
using ingest::DeliveryOutcome;
using ingest::NotificationsConfig;
using ingest::Notifier;
using nlohmann::json;

constexpr char kSecretA[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr char kSecretB[] = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

ingest::ImageRecord Ready() {
  ingest::ImageRecord r;
  r.id = "0190a3f2-7b1c-7d2e-8f00-123456789abc";
  r.source_url = "local:///0190a3f2-7b1c-7d2e-8f00-123456789abc";
  r.status = ingest::ImageStatus::kReady;
  r.facts = {"jpg", 640, 480, 12345, std::string(64, 'a')};
  r.metadata = {{"caption", "\xc3\xa9t\xc3\xa9"}};
  r.updated = ingest::Timestamp(std::chrono::milliseconds(1714564801456));
  return r;
}

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override { IMGORIGIN_REQUIRE_STUB(stub_); }

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(stub_.port("http")) + path;
  }

  // A notifier for `paths` on the stub, and the payload of the job for the first of them.
  std::unique_ptr<Notifier> Make(const std::vector<std::string>& paths,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    NotificationsConfig config;
    for (const auto& p : paths) config.webhook_urls.push_back(Url(p));
    config.webhook_secrets = {kSecretA, kSecretB};
    config.connect_timeout = std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds(2));
    config.timeout = timeout;
    auto notifier = Notifier::Create(config);
    EXPECT_TRUE(notifier) << notifier.error().message;
    return notifier ? *std::move(notifier) : nullptr;
  }

  std::string FirstJob(const Notifier& notifier) const {
    const auto jobs = notifier.Jobs(event_);
    EXPECT_FALSE(jobs.empty());
    return jobs.empty() ? "" : jobs[0].payload;
  }

  json Requests() const { return json::parse(StubStats(stub_.port("http")))["requests"]; }

  NodeStub stub_{"webhook_stub.mjs", {"--secret", kSecretA, "--secret", kSecretB}};
  const ingest::Event event_ = *ingest::ImageEvent(Ready());
};

TEST_F(WebhookTest, DeliveredSignedWithEverySecretAndTheSameIdOnRetries) {
  auto notifier = Make({"/hooks/a", "/hooks/b"});
  ASSERT_TRUE(notifier);
  const auto jobs = notifier->Jobs(event_);
  ASSERT_EQ(jobs.size(), 2u);
  const auto before = std::chrono::system_clock::now();
  for (const auto& payload : {jobs[0].payload, jobs[1].payload, jobs[0].payload}) {
    auto delivery = notifier->Deliver(payload);
    ASSERT_TRUE(delivery) << delivery.error().message;
    EXPECT_EQ(delivery->outcome, DeliveryOutcome::kDelivered);
    EXPECT_EQ(delivery->status, 200);
  }
  const json requests = Requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0]["path"], "/hooks/a");
  EXPECT_EQ(requests[1]["path"], "/hooks/b");
  EXPECT_EQ(requests[2]["path"], "/hooks/a");
  for (const json& r : requests) {
    EXPECT_EQ(r["method"], "POST");
    EXPECT_EQ(r["id"], event_.id);
    EXPECT_EQ(r["body"], event_.body);
    EXPECT_EQ(r["contentType"], "application/json");
    EXPECT_EQ(r["matched"], json::array({0, 1})) << r["signature"];
    const long long timestamp = std::stoll(r["timestamp"].get<std::string>());
    EXPECT_GE(timestamp, std::chrono::system_clock::to_time_t(before) - 1);
    EXPECT_LE(timestamp, std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()));
  }
  EXPECT_EQ(json::parse(requests[0]["body"].get<std::string>())["data"]["metadata"]["caption"],
            "\xc3\xa9t\xc3\xa9");
}

TEST_F(WebhookTest, ServerErrorsAndRedirectsAreRetryableErrors) {
  for (const char* path :
       {"/status/503", "/status/500", "/status/429", "/status/404", "/redirect"}) {
    auto notifier = Make({std::string("/secret-token") + path});
    ASSERT_TRUE(notifier);
    auto delivery = notifier->Deliver(FirstJob(*notifier));
    ASSERT_FALSE(delivery) << path;
    EXPECT_EQ(delivery.error().code, ErrorCode::kUpstreamFailed) << path;
    // The message names the endpoint by its origin only: the path may be its secret.
    EXPECT_EQ(delivery.error().message.find("secret-token"), std::string::npos)
        << delivery.error().message;
    EXPECT_NE(delivery.error().message.find(Url("")), std::string::npos)
        << delivery.error().message;
  }
  auto notifier = Make({"/status/503"});
  auto delivery = notifier->Deliver(FirstJob(*notifier));
  ASSERT_FALSE(delivery);
  EXPECT_EQ(delivery.error().message, "webhook " + Url("") + " answered 503 (Retry-After: 7)");
  // The redirect was not followed.
  for (const json& r : Requests()) EXPECT_NE(r["path"], "/status/200");
}

TEST_F(WebhookTest, GoneDisablesTheEndpoint) {
  auto notifier = Make({"/status/410", "/ok"});
  ASSERT_TRUE(notifier);
  const auto jobs = notifier->Jobs(event_);
  ASSERT_EQ(jobs.size(), 2u);
  auto gone = notifier->Deliver(jobs[0].payload);
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_EQ(gone->outcome, DeliveryOutcome::kGone);
  EXPECT_EQ(gone->status, 410);
  auto skipped = notifier->Deliver(jobs[0].payload);
  ASSERT_TRUE(skipped);
  EXPECT_EQ(skipped->outcome, DeliveryOutcome::kSkipped);
  auto other = notifier->Deliver(jobs[1].payload);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->outcome, DeliveryOutcome::kDelivered);
  const json requests = Requests();
  ASSERT_EQ(requests.size(), 2u);  // the disabled endpoint was not asked again
  EXPECT_EQ(requests[0]["path"], "/status/410");
  EXPECT_EQ(requests[1]["path"], "/ok");
}

TEST_F(WebhookTest, StalledEndpointIsCutOffAtTheTimeout) {
  auto notifier = Make({"/stall"}, std::chrono::milliseconds(400));
  ASSERT_TRUE(notifier);
  const auto start = std::chrono::steady_clock::now();
  auto delivery = notifier->Deliver(FirstJob(*notifier));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(delivery);
  EXPECT_EQ(delivery.error().code, ErrorCode::kDeadlineExceeded);
  EXPECT_GE(elapsed, std::chrono::milliseconds(350));
  EXPECT_LT(elapsed, std::chrono::seconds(3));
}

TEST_F(WebhookTest, OversizedAnswerStillCountsAsDelivered) {
  auto notifier = Make({"/big"});
  ASSERT_TRUE(notifier);
  auto delivery = notifier->Deliver(FirstJob(*notifier));
  ASSERT_TRUE(delivery) << delivery.error().message;
  EXPECT_EQ(delivery->outcome, DeliveryOutcome::kDelivered);
  ASSERT_EQ(Requests().size(), 1u);
}

TEST_F(WebhookTest, RefusedConnectionIsARetryableError) {
  // A port that was just free: bind one, note it, close it.
  NotificationsConfig config;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  config.webhook_urls = {"http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/"};
  config.webhook_secrets = {kSecretA};
  auto notifier = Notifier::Create(config);
  ASSERT_TRUE(notifier);
  auto delivery = (*notifier)->Deliver(FirstJob(**notifier));
  ASSERT_FALSE(delivery);
  EXPECT_EQ(delivery.error().code, ErrorCode::kUpstreamFailed) << delivery.error().message;
}

}  // namespace
}  // namespace imgorigin::testing
