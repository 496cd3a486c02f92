// SNS Publish: one JSON message to a topic, for notifications (DESIGN.md §6). Subscribers
// (SQS queues, HTTPS endpoints, Lambda) get it in SNS's envelope ({"Type": "Notification",
// "Message": "<the JSON text>", "MessageAttributes": {…}}) or raw, as their subscription says;
// String message attributes (the event type, say) let subscriptions filter without parsing the
// message.
//
// Errors: a message or attribute SNS would refuse is kInvalidArgument before anything is sent;
// the rest are AwsApiClient's (aws_api_client.h): kUnavailable (throttled, down, no answer:
// publish again later), kNotFound (no such topic), kPermissionDenied, kUpstreamFailed.
// SnsPublish() blocks on the network (bounded by the client's timeouts): an I/O thread, never an
// event loop. Thread-safe, as the client is.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "storage/aws_api_client.h"

namespace imgorigin::storage {

// SNS's limits: a message of at most 256 KiB, at most 10 message attributes.
inline constexpr size_t kMaxSnsMessageBytes = 256 * 1024;
inline constexpr size_t kMaxSnsAttributes = 10;

struct SnsMessage {
  std::string topic_arn;  // arn:aws:sns:<region>:<account>:<topic>
  std::string message;    // 1..kMaxSnsMessageBytes of UTF-8 (JSON text in practice)
  // String attributes: names of [A-Za-z0-9_.-] (up to 256, not starting with "AWS." or
  // "Amazon."), non-empty UTF-8 values.
  std::vector<std::pair<std::string, std::string>> attributes;
};

common::Result<void> ValidateSnsMessage(const SnsMessage& message);

// Publishes `message` with `sns` (an AwsApiClient for service "sns"); returns SNS's MessageId.
common::Result<std::string> SnsPublish(const AwsApiClient& sns, const SnsMessage& message);

}  // namespace imgorigin::storage
