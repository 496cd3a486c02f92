#include "storage/sns.h"

#include <algorithm>
#include <cctype>

#include "storage/s3_client.h"

namespace imgorigin::storage {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

bool IsAttributeName(std::string_view name) {
  return !name.empty() && name.size() <= 256 && !name.starts_with("AWS.") &&
         !name.starts_with("Amazon.") && !name.starts_with(".") && !name.ends_with(".") &&
         name.find("..") == std::string_view::npos &&
         std::all_of(name.begin(), name.end(), [](unsigned char c) {
           return std::isalnum(c) || c == '_' || c == '-' || c == '.';
         });
}

}  // namespace

Result<void> ValidateSnsMessage(const SnsMessage& message) {
  auto bad = [](std::string what) { return Fail(ErrorCode::kInvalidArgument, std::move(what)); };
  if (!message.topic_arn.starts_with("arn:") ||
      std::count(message.topic_arn.begin(), message.topic_arn.end(), ':') != 5 ||
      !IsAwsText(message.topic_arn)) {
    return bad("an SNS topic is named by its ARN: arn:aws:sns:<region>:<account>:<topic>");
  }
  if (message.message.empty() || message.message.size() > kMaxSnsMessageBytes ||
      !IsAwsText(message.message)) {
    return bad("an SNS message is 1 byte to 256 KiB of UTF-8 text");
  }
  if (message.attributes.size() > kMaxSnsAttributes) {
    return bad("an SNS message has at most 10 attributes");
  }
  for (const auto& [name, value] : message.attributes) {
    if (!IsAttributeName(name)) return bad("\"" + name + "\" is not an SNS attribute name");
    if (value.empty() || !IsAwsText(value)) {
      return bad("SNS attribute \"" + name + "\" needs a non-empty UTF-8 value");
    }
  }
  return {};
}

Result<std::string> SnsPublish(const AwsApiClient& sns, const SnsMessage& message) {
  if (auto r = ValidateSnsMessage(message); !r) return std::unexpected(r.error());
  std::vector<std::pair<std::string, std::string>> params = {{"TopicArn", message.topic_arn},
                                                             {"Message", message.message}};
  for (size_t i = 0; i < message.attributes.size(); ++i) {
    const std::string entry = "MessageAttributes.entry." + std::to_string(i + 1) + ".";
    params.emplace_back(entry + "Name", message.attributes[i].first);
    params.emplace_back(entry + "Value.DataType", "String");
    params.emplace_back(entry + "Value.StringValue", message.attributes[i].second);
  }
  auto answer = sns.CallQuery("Publish", "2010-03-31", params);
  if (!answer) return std::unexpected(answer.error());
  auto id = S3XmlText(*answer, "MessageId");
  if (!id || id->empty()) {
    return Fail(ErrorCode::kUpstreamFailed, "SNS Publish: the answer names no MessageId");
  }
  return *std::move(id);
}

}  // namespace imgorigin::storage
