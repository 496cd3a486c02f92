#include "ingest/sqs_s3_event.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace imgorigin::ingest {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;
using nlohmann::json;

bool IsS3Record(const json& record) {
  if (!record.is_object()) return false;
  auto source = record.find("eventSource");
  return source != record.end() && source->is_string() && *source == "aws:s3";
}

// What the S3 document `doc` is, or nullopt when it is none.
std::optional<S3EventMessage::Kind> KindOf(const json& doc) {
  if (!doc.is_object()) return std::nullopt;
  auto event = doc.find("Event");
  if (event != doc.end() && event->is_string() && *event == "s3:TestEvent") {
    return S3EventMessage::Kind::kTestEvent;
  }
  auto records = doc.find("Records");
  if (records != doc.end() && records->is_array() && !records->empty() &&
      std::all_of(records->begin(), records->end(), IsS3Record)) {
    return S3EventMessage::Kind::kEvent;
  }
  return std::nullopt;
}

bool IsSnsNotification(const json& doc) {
  if (!doc.is_object()) return false;
  auto type = doc.find("Type");
  auto message = doc.find("Message");
  return type != doc.end() && type->is_string() && *type == "Notification" &&
         message != doc.end() && message->is_string();
}

}  // namespace

Result<S3EventMessage> UnwrapS3EventMessage(std::string_view body) {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return Fail(ErrorCode::kInvalidArgument, "the SQS message is not JSON, so no S3 event");
  }
  if (auto kind = KindOf(doc)) return S3EventMessage{*kind, false, std::string(body)};
  if (!IsSnsNotification(doc)) {
    return Fail(ErrorCode::kInvalidArgument,
                "the SQS message is neither an S3 event nor an SNS notification");
  }
  std::string inner = doc["Message"].get<std::string>();
  if (auto kind = KindOf(json::parse(inner, nullptr, /*allow_exceptions=*/false))) {
    return S3EventMessage{*kind, true, std::move(inner)};
  }
  return Fail(ErrorCode::kInvalidArgument, "the SNS notification does not carry an S3 event");
}

}  // namespace imgorigin::ingest
