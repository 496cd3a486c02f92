// SQS and SNS for the tests: fauxqs behind the SigV4-checking proxy (fauxqs_stub.mjs), started
// once per test process on a loopback port, and AWS API clients and job queues pointed at it.
// Queues are created the way operators create them: a dead-letter queue, then the queue with a
// redrive policy naming it. Header-only. Test threads only.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "ingest/sqs_job_queue.h"
#include "storage/aws_api_client.h"
#include "tests/integration/node_stub.h"

namespace imgorigin::testing {

inline constexpr char kFauxqsKeyId[] = "AKIDFAUXQS";
inline constexpr char kFauxqsSecret[] = "fauxqs-secret";

inline NodeStub& Fauxqs() {
  static NodeStub stub("fauxqs_stub.mjs",
                       {"--key", std::string(kFauxqsKeyId) + ":" + kFauxqsSecret});
  return stub;
}

inline std::string FauxqsEndpoint() {
  return "http://127.0.0.1:" + std::to_string(Fauxqs().port("sqs"));
}

// The process environment an AWS client sees: fauxqs's keys, no instance metadata lookups.
inline storage::EnvLookup FauxqsEnv(std::string secret = kFauxqsSecret) {
  std::map<std::string, std::string> env = {{"AWS_ACCESS_KEY_ID", kFauxqsKeyId},
                                            {"AWS_SECRET_ACCESS_KEY", secret},
                                            {"AWS_EC2_METADATA_DISABLED", "true"}};
  return [env](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

inline common::Result<std::shared_ptr<storage::AwsApiClient>> FauxqsClient(
    std::string service, std::string secret = kFauxqsSecret) {
  if (!Fauxqs().started()) {
    return common::Fail(common::ErrorCode::kUnavailable, Fauxqs().error());
  }
  storage::AwsApiClient::Config config;
  config.service = std::move(service);
  config.region = "us-east-1";
  config.endpoint = FauxqsEndpoint();
  config.timeout = std::chrono::seconds(5);
  auto client = storage::AwsApiClient::Create(config, FauxqsEnv(std::move(secret)));
  if (!client) return std::unexpected(client.error());
  return std::shared_ptr<storage::AwsApiClient>(*std::move(client));
}

// CreateQueue (idempotent for the same attributes); returns the queue URL.
inline common::Result<std::string> CreateQueue(
    const storage::AwsApiClient& sqs, const std::string& name,
    nlohmann::json attributes = nlohmann::json::object()) {
  auto answer = sqs.CallJson("AmazonSQS.CreateQueue",
                             {{"QueueName", name}, {"Attributes", std::move(attributes)}});
  if (!answer) return std::unexpected(answer.error());
  return answer->value("QueueUrl", "");
}

// "<name>-dead", then "<name>" redriving to it after `max_receive_count` receives.
inline common::Result<void> CreateQueueWithDeadLetters(const storage::AwsApiClient& sqs,
                                                       const std::string& name,
                                                       int max_receive_count) {
  auto dead = CreateQueue(sqs, name + "-dead");
  if (!dead) return std::unexpected(dead.error());
  auto arn =
      sqs.CallJson("AmazonSQS.GetQueueAttributes",
                   {{"QueueUrl", *dead}, {"AttributeNames", nlohmann::json::array({"QueueArn"})}});
  if (!arn) return std::unexpected(arn.error());
  const std::string dead_arn = (*arn)["Attributes"].value("QueueArn", "");
  const nlohmann::json policy = {{"deadLetterTargetArn", dead_arn},
                                 {"maxReceiveCount", max_receive_count}};
  auto queue = CreateQueue(sqs, name, {{"RedrivePolicy", policy.dump()}});
  if (!queue) return std::unexpected(queue.error());
  return {};
}

// A job queue on a fresh SQS queue "<name>" and its dead letters; fauxqs is a single server, so
// dead-letter scans need no long poll.
inline common::Result<std::unique_ptr<ingest::SqsJobQueue>> OpenSqsJobQueue(
    const std::string& name, int max_receive_count = 100) {
  auto sqs = FauxqsClient("sqs");
  if (!sqs) return std::unexpected(sqs.error());
  if (auto r = CreateQueueWithDeadLetters(**sqs, name, max_receive_count); !r) {
    return std::unexpected(r.error());
  }
  ingest::SqsJobQueue::Config config;
  config.queue = name;
  config.scan_wait = std::chrono::seconds(0);
  return ingest::SqsJobQueue::Open(*std::move(sqs), config);
}

// SQS queue names are [A-Za-z0-9_-]{1,80}: anything else in a test's queue name becomes "-".
inline std::string SqsQueueName(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, 70))
    out += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '-';
  return out;
}

}  // namespace imgorigin::testing
