#include "storage/aws_api_client.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "storage/digest.h"
#include "storage/s3_client.h"
#include "storage/sigv4.h"

namespace imgorigin::storage {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

constexpr size_t kMaxShownMessageBytes = 200;

// Codes that say "later": throttling and the service's own trouble.
constexpr std::array<std::string_view, 21> kRetryLaterCodes = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "OverLimit",
    "KmsThrottled",
    "KMS.ThrottlingException",
    "ProvisionedThroughputExceededException",
    "InternalError",
    "InternalFailure",
    "InternalErrorException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "Unavailable"};

constexpr std::array<std::string_view, 14> kDeniedCodes = {"UnrecognizedClientException",
                                                           "InvalidClientTokenId",
                                                           "SignatureDoesNotMatch",
                                                           "IncompleteSignature",
                                                           "MissingAuthenticationToken",
                                                           "InvalidSecurity",
                                                           "AccessDenied",
                                                           "AccessDeniedException",
                                                           "AuthorizationError",
                                                           "ExpiredToken",
                                                           "ExpiredTokenException",
                                                           "InvalidSignatureException",
                                                           "KmsAccessDenied",
                                                           "MissingAuthenticationTokenException"};

constexpr std::array<std::string_view, 6> kMissingCodes = {
    "QueueDoesNotExist", "NonExistentQueue",          "NotFound",
    "NotFoundException", "ResourceNotFoundException", "TopicNotFound"};

// SQS: the receipt handle belongs to a delivery that is over (or to no delivery at all).
constexpr std::array<std::string_view, 2> kStaleHandleCodes = {"ReceiptHandleIsInvalid",
                                                               "MessageNotInflight"};

template <size_t N>
bool Among(const std::array<std::string_view, N>& codes, std::string_view code) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

bool IsPlainCode(std::string_view code) {
  return !code.empty() && code.size() <= 96 &&
         std::all_of(code.begin(), code.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '.' || c == '_'; });
}

// "com.amazonaws.sqs#QueueDoesNotExist", "InvalidSignatureException:http://…" → the code.
std::string_view TypeToCode(std::string_view type) {
  if (size_t hash = type.rfind('#'); hash != std::string_view::npos) {
    type.remove_prefix(hash + 1);
  }
  return type.substr(0, type.find(':'));
}

// The error body as JSON, or a null document when it is not JSON.
nlohmann::json JsonBody(const HttpResponse& response) {
  return nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
}

std::string JsonString(const nlohmann::json& doc, std::string_view key) {
  if (!doc.is_object()) return "";
  auto it = doc.find(key);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : "";
}

// AWS's message, cut and kept to printable ASCII (it is shown to people and in logs).
std::string AwsErrorMessage(const HttpResponse& response) {
  const nlohmann::json doc = JsonBody(response);
  std::string message = JsonString(doc, "message");
  if (message.empty()) message = JsonString(doc, "Message");
  if (message.empty() && !doc.is_object())
    message = S3XmlText(response.body, "Message").value_or("");
  if (message.size() > kMaxShownMessageBytes) message.resize(kMaxShownMessageBytes);
  for (char& c : message) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return message;
}

ErrorCode Classify(long status, std::string_view code) {
  if (code.starts_with("AWS.SimpleQueueService.")) code.remove_prefix(23);
  if (Among(kStaleHandleCodes, code)) return ErrorCode::kConflict;
  if (Among(kRetryLaterCodes, code) || status >= 500 || status == 429) {
    return ErrorCode::kUnavailable;
  }
  if (Among(kDeniedCodes, code) || status == 401 || status == 403) {
    return ErrorCode::kPermissionDenied;
  }
  if (Among(kMissingCodes, code)) return ErrorCode::kNotFound;
  return ErrorCode::kUpstreamFailed;
}

std::string Upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

// application/x-www-form-urlencoded, with %20 for spaces (AWS accepts both forms).
std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += UriEncode(name, false) + "=" + UriEncode(value, false);
  }
  return out;
}

}  // namespace

std::string ResolveAwsRegion(std::string_view configured, const EnvLookup& env) {
  if (!configured.empty()) return std::string(configured);
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (auto value = env(name); value && !value->empty()) return *value;
  }
  return "us-east-1";
}

Result<std::string> ResolveAwsEndpoint(std::string_view configured, std::string_view service,
                                       std::string_view region, const EnvLookup& env) {
  std::string endpoint(configured);
  const std::string service_variable = "AWS_ENDPOINT_URL_" + Upper(service);
  for (const std::string& name : {service_variable, std::string("AWS_ENDPOINT_URL")}) {
    if (!endpoint.empty()) break;
    if (auto value = env(name); value) endpoint = *value;
  }
  if (endpoint.empty()) {
    endpoint = "https://" + std::string(service) + "." + std::string(region) + ".amazonaws.com";
  }
  while (endpoint.ends_with("/")) endpoint.pop_back();
  if (!endpoint.starts_with("http://") && !endpoint.starts_with("https://")) {
    return Fail(ErrorCode::kInvalidArgument,
                Upper(service) + " endpoint \"" + endpoint + "\" must be an http(s) URL");
  }
  return endpoint;
}

bool IsAwsText(std::string_view text, bool beyond_bmp) {
  for (size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const size_t n = lead < 0x80         ? 1
                     : (lead >> 5) == 6  ? 2
                     : (lead >> 4) == 14 ? 3
                     : (lead >> 3) == 30 ? 4
                                         : 0;
    if (n == 0 || i + n > text.size()) return false;
    uint32_t cp = n == 1 ? lead : lead & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(text[i + k]);
      if ((c >> 6) != 2) return false;
      cp = (cp << 6) | (c & 0x3f);
    }
    static constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kSmallest[n]) return false;  // overlong
    const bool allowed = cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
                         (cp >= 0xE000 && cp <= 0xFFFD) ||
                         (beyond_bmp && cp >= 0x10000 && cp <= 0x10FFFF);
    if (!allowed) return false;
    i += n;
  }
  return true;
}

std::string AwsErrorCode(const HttpResponse& response) {
  std::string code(TypeToCode(JsonString(JsonBody(response), "__type")));
  if (code.empty()) code = TypeToCode(response.header("x-amzn-errortype"));
  if (code.empty()) code = S3XmlText(response.body, "Code").value_or("");
  return IsPlainCode(code) ? code : "";
}

common::Error AwsApiError(const HttpResponse& response, std::string_view what) {
  const std::string code = AwsErrorCode(response);
  std::string message = std::string(what) + ": " + std::to_string(response.status);
  if (!code.empty()) message += " " + code;
  if (std::string detail = AwsErrorMessage(response); !detail.empty()) message += ": " + detail;
  return {Classify(response.status, code), std::move(message)};
}

Result<void> AwsApiClient::Config::Validate() const {
  auto bad = [](std::string what) { return Fail(ErrorCode::kInvalidArgument, std::move(what)); };
  if (service.empty() || !std::all_of(service.begin(), service.end(), [](unsigned char c) {
        return std::islower(c) || std::isdigit(c) || c == '-';
      })) {
    return bad("an AWS service name is lowercase letters, digits and \"-\"");
  }
  if (connect_timeout.count() <= 0 || timeout.count() <= 0) {
    return bad("AWS request timeouts must be > 0");
  }
  if (max_response_bytes <= 0) return bad("the AWS answer size limit must be > 0");
  if (retry.retries < 0) return bad("AWS request retries must be >= 0");
  return {};
}

Result<std::unique_ptr<AwsApiClient>> AwsApiClient::Create(Config config, EnvLookup env) {
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  std::string region = ResolveAwsRegion(config.region, env);
  auto endpoint = ResolveAwsEndpoint(config.endpoint, config.service, region, env);
  if (!endpoint) return std::unexpected(endpoint.error());
  return std::unique_ptr<AwsApiClient>(
      new AwsApiClient(std::move(config), std::move(env), std::move(region), *std::move(endpoint)));
}

AwsApiClient::AwsApiClient(Config config, EnvLookup env, std::string region, std::string endpoint)
    : config_(std::move(config)),
      region_(std::move(region)),
      endpoint_(std::move(endpoint)),
      service_label_(Upper(config_.service)),
      credentials_(AwsCredentialsChain::Config{}, std::move(env)) {}

Result<HttpResponse> AwsApiClient::Post(std::string_view what, std::vector<std::string> headers,
                                        const std::string& body,
                                        std::chrono::milliseconds wait) const {
  auto creds = credentials_.Get();
  if (!creds) {
    return Fail(ErrorCode::kUnavailable,
                std::string(what) + ": AWS credentials are not available on this server");
  }
  HttpRequest request;
  request.method = "POST";
  request.url = endpoint_ + "/";
  request.headers = std::move(headers);
  request.body = body;
  request.connect_timeout = config_.connect_timeout;
  request.timeout = config_.timeout + std::max(wait, std::chrono::milliseconds(0));
  request.max_bytes = config_.max_response_bytes;
  request.what = service_label_;
  auto signed_request =
      SignAwsRequest(config_.service, request.method, request.url, request.headers, Sha256Hex(body),
                     *creds, region_, std::chrono::system_clock::now());
  if (!signed_request) return std::unexpected(signed_request.error());
  auto response = http_.PerformWithRetry(request, config_.retry);
  if (!response) {
    const ErrorCode code = response.error().code == ErrorCode::kDeadlineExceeded ||
                                   response.error().code == ErrorCode::kUpstreamFailed
                               ? ErrorCode::kUnavailable
                               : response.error().code;
    return Fail(code, std::string(what) + ": " + response.error().message);
  }
  if (response->status < 200 || response->status >= 300) {
    return std::unexpected(AwsApiError(*response, what));
  }
  return response;
}

Result<nlohmann::json> AwsApiClient::CallJson(std::string_view target,
                                              const nlohmann::json& request,
                                              std::chrono::milliseconds wait) const {
  const std::string what = service_label_ + " " + std::string(target.substr(target.find('.') + 1));
  const std::string body = request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  auto response = Post(
      what, {"Content-Type: application/x-amz-json-1.0", "X-Amz-Target: " + std::string(target)},
      body, wait);
  if (!response) return std::unexpected(response.error());
  if (response->body.empty()) return nlohmann::json::object();
  auto doc = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Fail(ErrorCode::kUpstreamFailed, what + ": the answer is not a JSON object");
  }
  return doc;
}

Result<std::string> AwsApiClient::CallQuery(
    std::string_view action, std::string_view version,
    const std::vector<std::pair<std::string, std::string>>& params) const {
  std::vector<std::pair<std::string, std::string>> all = {{"Action", std::string(action)},
                                                          {"Version", std::string(version)}};
  all.insert(all.end(), params.begin(), params.end());
  auto response =
      Post(service_label_ + " " + std::string(action),
           {"Content-Type: application/x-www-form-urlencoded; charset=utf-8"}, FormEncode(all), {});
  if (!response) return std::unexpected(response.error());
  return std::move(response->body);
}

}  // namespace imgorigin::storage
