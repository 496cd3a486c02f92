#include "storage/s3_client.h"

#include <algorithm>
#include <cctype>

#include "storage/digest.h"

namespace imgorigin::storage {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;


}  // namespace

std::string S3ErrorCode(std::string_view body) {
  size_t open = body.find("<Code>");
  size_t close = body.find("</Code>");
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return "";
  std::string code(body.substr(open + 6, close - open - 6));
  bool plain =
      std::all_of(code.begin(), code.end(), [](unsigned char c) { return std::isalnum(c); });
  return plain && code.size() <= 64 ? code : "";
}

std::string S3StatusDetail(const HttpResponse& response) {
  std::string code = S3ErrorCode(response.body);
  return std::to_string(response.status) + (code.empty() ? "" : " " + code);
}

bool IsValidBucketName(std::string_view bucket) {
  if (bucket.size() < 3 || bucket.size() > 63) return false;
  return std::all_of(bucket.begin(), bucket.end(),
                     [](unsigned char c) {
                       return std::islower(c) || std::isdigit(c) || c == '-' || c == '.' ||
                              c == '_';
                     }) &&
         bucket.find("..") == std::string_view::npos;
}

Result<std::unique_ptr<S3Client>> S3Client::Create(const Config& config, EnvLookup env) {
  auto first = [&env](std::initializer_list<const char*> names) -> std::string {
    for (const char* name : names) {
      if (auto value = env(name); value && !value->empty()) return *value;
    }
    return "";
  };
  std::string region = config.region;
  if (region.empty()) region = first({"AWS_REGION", "AWS_DEFAULT_REGION"});
  if (region.empty()) region = "us-east-1";
  std::string endpoint = config.endpoint;
  if (endpoint.empty()) endpoint = first({"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"});
  if (endpoint.empty()) endpoint = "https://s3." + region + ".amazonaws.com";
  while (endpoint.ends_with("/")) endpoint.pop_back();
  if (!endpoint.starts_with("http://") && !endpoint.starts_with("https://")) {
    return Fail(ErrorCode::kInvalidArgument,
                "S3 endpoint \"" + endpoint + "\" must be an http(s) URL");
  }
  return std::unique_ptr<S3Client>(
      new S3Client(config, std::move(env), std::move(region), std::move(endpoint)));
}

S3Client::S3Client(const Config& config, EnvLookup env, std::string region, std::string endpoint)
    : path_style_(config.path_style),
      region_(std::move(region)),
      endpoint_(std::move(endpoint)),
      credentials_(AwsCredentialsChain::Config{}, std::move(env)) {}

std::string S3Client::ObjectUrl(const Object& object) const {
  std::string path = "/" + UriEncode(object.key, /*keep_slash=*/true);
  std::string url;
  // Bucket names with dots break the TLS wildcard certificate of virtual-hosted addressing, so
  // they always use path style, as the AWS SDKs do.
  if (path_style_ || object.bucket.find('.') != std::string::npos) {
    url = endpoint_ + "/" + object.bucket + path;
  } else {
    size_t host = endpoint_.find("://") + 3;
    url = endpoint_.substr(0, host) + object.bucket + "." + endpoint_.substr(host) + path;
  }
  if (!object.version_id.empty()) url += "?versionId=" + UriEncode(object.version_id, false);
  return url;
}

Result<HttpResponse> S3Client::Perform(HttpRequest request, const RetryPolicy& retry) const {
  auto creds = credentials_.Get();
  if (!creds) {
    return Fail(ErrorCode::kUpstreamFailed, "S3 credentials are not available on this server");
  }
  request.aws_sigv4 = "aws:amz:" + region_ + ":s3";
  request.user_pwd = creds->access_key_id + ":" + creds->secret_access_key;
  // S3 requires the payload hash on every SigV4 request (an empty body has one too). Sending it
  // as a header also makes libcurl sign exactly this hash whatever its version.
  request.headers.push_back("x-amz-content-sha256: " + Sha256Hex(request.body));
  if (!creds->session_token.empty()) {
    request.headers.push_back("x-amz-security-token: " + creds->session_token);
  }
  return http_.PerformWithRetry(request, retry);
}

}  // namespace imgorigin::storage
