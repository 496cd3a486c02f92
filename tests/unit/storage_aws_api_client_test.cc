// The AWS API client's pure parts: AWS error answers (JSON and XML protocols) mapped to error
// codes, endpoint and region resolution, the text SQS and SNS take, and SNS message checks.
#include <gtest/gtest.h>

#include <map>

#include "storage/aws_api_client.h"
#include "storage/sns.h"

namespace imgorigin::storage {
namespace {

using common::ErrorCode;

HttpResponse Answer(long status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

HttpResponse Json(long status, const std::string& type, const std::string& message = "m") {
  return Answer(status, R"({"__type":")" + type + R"(","message":")" + message + R"("})");
}

HttpResponse Xml(long status, const std::string& code) {
  return Answer(status,
                "<ErrorResponse><Error><Type>Sender</Type><Code>" + code +
                    "</Code><Message>Topic does not exist</Message></Error></ErrorResponse>");
}

TEST(AwsApiError, MapsAwsCodesOfBothProtocols) {
  const std::pair<HttpResponse, ErrorCode> cases[] = {
      {Json(400, "com.amazonaws.sqs#ThrottlingException"), ErrorCode::kUnavailable},
      {Json(400, "com.amazonaws.sqs#RequestThrottled"), ErrorCode::kUnavailable},
      {Json(500, "com.amazonaws.sqs#InternalError"), ErrorCode::kUnavailable},
      {Answer(503, ""), ErrorCode::kUnavailable},
      {Xml(400, "Throttling"), ErrorCode::kUnavailable},
      {Json(400, "com.amazonaws.sqs#QueueDoesNotExist"), ErrorCode::kNotFound},
      {Xml(404, "NotFound"), ErrorCode::kNotFound},
      {Json(400, "com.amazonaws.sqs#ReceiptHandleIsInvalid"), ErrorCode::kConflict},
      {Json(400, "com.amazonaws.sqs#MessageNotInflight"), ErrorCode::kConflict},
      {Json(400, "AWS.SimpleQueueService.MessageNotInflight"), ErrorCode::kConflict},
      {Json(403, "com.amazonaws.sqs#SignatureDoesNotMatch"), ErrorCode::kPermissionDenied},
      {Json(400, "InvalidSignatureException:http://internal.amazon.com/"),
       ErrorCode::kPermissionDenied},
      {Xml(403, "AuthorizationError"), ErrorCode::kPermissionDenied},
      {Answer(403, "<html>denied</html>"), ErrorCode::kPermissionDenied},
      {Json(400, "com.amazonaws.sqs#InvalidParameterValue"), ErrorCode::kUpstreamFailed},
      {Answer(400, "garbage"), ErrorCode::kUpstreamFailed},
  };
  for (const auto& [response, code] : cases) {
    EXPECT_EQ(AwsApiError(response, "SQS X").code, code) << response.body;
  }
}

TEST(AwsApiError, MessageNamesTheCallStatusCodeAndAwsWords) {
  auto error = AwsApiError(
      Json(400, "com.amazonaws.sqs#QueueDoesNotExist", "The specified queue does not exist."),
      "SQS SendMessage");
  EXPECT_EQ(error.message,
            "SQS SendMessage: 400 QueueDoesNotExist: The specified queue does not exist.");
  EXPECT_EQ(AwsApiError(Xml(404, "NotFound"), "SNS Publish").message,
            "SNS Publish: 404 NotFound: Topic does not exist");
  // Long or odd AWS text is cut and kept printable; a code that is no identifier is dropped.
  auto odd = AwsApiError(Json(400, "bad code<script>", "\\u0001" + std::string(500, 'x')), "SQS X");
  EXPECT_EQ(odd.message, "SQS X: 400: ?" + std::string(199, 'x'));
}

TEST(AwsApiError, CodeFromTheErrorTypeHeader) {
  HttpResponse response = Answer(400, "");
  response.headers = {{"x-amzn-errortype", "ThrottlingException:http://internal/"}};
  EXPECT_EQ(AwsErrorCode(response), "ThrottlingException");
  EXPECT_EQ(AwsApiError(response, "SQS X").code, ErrorCode::kUnavailable);
}

EnvLookup Env(std::map<std::string, std::string> env) {
  return [env](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

TEST(AwsEndpoint, ResolvedTheWayTheSdksDo) {
  EXPECT_EQ(ResolveAwsRegion("", Env({})), "us-east-1");
  EXPECT_EQ(ResolveAwsRegion("", Env({{"AWS_DEFAULT_REGION", "eu-west-1"}})), "eu-west-1");
  EXPECT_EQ(ResolveAwsRegion("ap-south-1", Env({{"AWS_REGION", "eu-west-1"}})), "ap-south-1");
  EXPECT_EQ(ResolveAwsEndpoint("", "sqs", "eu-west-1", Env({})).value_or(""),
            "https://sqs.eu-west-1.amazonaws.com");
  EXPECT_EQ(ResolveAwsEndpoint("", "sqs", "eu-west-1",
                               Env({{"AWS_ENDPOINT_URL", "http://all:1/"},
                                    {"AWS_ENDPOINT_URL_SQS", "http://sqs:2/"}}))
                .value_or(""),
            "http://sqs:2");
  EXPECT_EQ(ResolveAwsEndpoint("", "sns", "eu-west-1",
                               Env({{"AWS_ENDPOINT_URL", "http://all:1"},
                                    {"AWS_ENDPOINT_URL_SQS", "http://sqs:2"}}))
                .value_or(""),
            "http://all:1");
  auto bad = ResolveAwsEndpoint("sqs.example.com", "sqs", "us-east-1", Env({}));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(AwsApiClient::Create({.service = "SQS"}, Env({})));
  EXPECT_FALSE(AwsApiClient::Create({.service = ""}, Env({})));
}

TEST(AwsText, XmlCharactersInUtf8Only) {
  EXPECT_TRUE(IsAwsText("plain {\"json\": 1}\t\r\n"));
  EXPECT_TRUE(IsAwsText("caf\xc3\xa9 \xe2\x82\xac"));
  EXPECT_TRUE(IsAwsText("\xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsAwsText("\xf0\x9f\x98\x80", /*beyond_bmp=*/false));
  EXPECT_FALSE(IsAwsText(std::string("a\0b", 3)));
  EXPECT_FALSE(IsAwsText("\x01"));
  EXPECT_FALSE(IsAwsText("\xff"));
  EXPECT_FALSE(IsAwsText("\xc3"));          // cut short
  EXPECT_FALSE(IsAwsText("\xc0\xaf"));      // overlong "/"
  EXPECT_FALSE(IsAwsText("\xed\xa0\x80"));  // a surrogate
  EXPECT_FALSE(IsAwsText("\xef\xbf\xbe"));  // U+FFFE
}

TEST(SnsMessage, ChecksWhatSnsWouldRefuse) {
  const SnsMessage good = {.topic_arn = "arn:aws:sns:us-east-1:123456789012:events",
                           .message = "{}",
                           .attributes = {{"event_type", "image.ready"}}};
  EXPECT_TRUE(ValidateSnsMessage(good));
  auto with = [&](auto change) {
    SnsMessage m = good;
    change(m);
    return ValidateSnsMessage(m);
  };
  EXPECT_FALSE(with([](SnsMessage& m) { m.topic_arn = "events"; }));
  EXPECT_FALSE(with([](SnsMessage& m) { m.message.clear(); }));
  EXPECT_FALSE(with([](SnsMessage& m) { m.message = std::string(kMaxSnsMessageBytes + 1, 'x'); }));
  EXPECT_FALSE(with([](SnsMessage& m) { m.message = "\xff"; }));
  EXPECT_FALSE(with([](SnsMessage& m) { m.attributes = {{"AWS.reserved", "x"}}; }));
  EXPECT_FALSE(with([](SnsMessage& m) { m.attributes = {{"bad name", "x"}}; }));
  EXPECT_FALSE(with([](SnsMessage& m) { m.attributes = {{"empty", ""}}; }));
  EXPECT_FALSE(with([](SnsMessage& m) { m.attributes.assign(kMaxSnsAttributes + 1, {"a", "b"}); }));
}

}  // namespace
}  // namespace imgorigin::storage
