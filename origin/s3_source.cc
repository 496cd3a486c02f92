#include "origin/s3_source.h"

#include <algorithm>

namespace imgorigin::origin {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

constexpr std::string_view kVersionQuery = "?versionId=";

// S3's error code from an XML error body ("<Code>SlowDown</Code>"), or "".
std::string ErrorCodeOf(std::string_view body) {
  size_t open = body.find("<Code>");
  size_t close = body.find("</Code>");
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return "";
  std::string code(body.substr(open + 6, close - open - 6));
  // The code names an S3 condition; anything that is not a plain identifier is not shown.
  bool plain = std::all_of(code.begin(), code.end(), [](unsigned char c) { return std::isalnum(c); });
  return plain && code.size() <= 64 ? code : "";
}

// RFC 1123-ish bucket names; also keeps "/" and ".." out of request paths.
bool ValidBucket(std::string_view bucket) {
  if (bucket.size() < 3 || bucket.size() > 63) return false;
  return std::all_of(bucket.begin(), bucket.end(), [](unsigned char c) {
    return std::islower(c) || std::isdigit(c) || c == '-' || c == '.' || c == '_';
  }) && bucket.find("..") == std::string_view::npos;
}

}  // namespace

Result<void> S3Source::Config::Validate() const {
  for (const auto& bucket : allowed_buckets) {
    if (!ValidBucket(bucket)) {
      return Fail(ErrorCode::kBadRequest, "s3 allowed bucket \"" + bucket + "\" is not a bucket name");
    }
  }
  if (!endpoint.empty() && !endpoint.starts_with("http://") && !endpoint.starts_with("https://")) {
    return Fail(ErrorCode::kBadRequest, "s3 endpoint must start with http:// or https://");
  }
  return {};
}

Result<S3Source::Location> S3Source::ParseUrl(std::string_view url) {
  if (!url.starts_with("s3://")) return Fail(ErrorCode::kBadRequest, "not an s3:// source");
  std::string_view rest = url.substr(5);
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 >= rest.size()) {
    return Fail(ErrorCode::kBadRequest, "s3 source must be s3://bucket/key");
  }
  Location location;
  location.bucket = rest.substr(0, slash);
  std::string_view key = rest.substr(slash + 1);
  if (size_t q = key.rfind(kVersionQuery); q != std::string_view::npos) {
    location.version_id = key.substr(q + kVersionQuery.size());
    key = key.substr(0, q);
    if (location.version_id.empty() || key.empty()) {
      return Fail(ErrorCode::kBadRequest, "s3 source has an empty key or versionId");
    }
  }
  if (!ValidBucket(location.bucket)) {
    return Fail(ErrorCode::kBadRequest, "s3 source names an invalid bucket");
  }
  location.key = key;
  return location;
}

Result<std::unique_ptr<S3Source>> S3Source::Create(const Config& config, const FetchConfig& fetch,
                                                   int64_t max_bytes, EnvLookup env) {
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
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
    return Fail(ErrorCode::kBadRequest, "S3 endpoint \"" + endpoint + "\" must be an http(s) URL");
  }
  return std::unique_ptr<S3Source>(
      new S3Source(config, fetch, max_bytes, std::move(env), std::move(region), std::move(endpoint)));
}

S3Source::S3Source(const Config& config, const FetchConfig& fetch, int64_t max_bytes,
                   EnvLookup env, std::string region, std::string endpoint)
    : config_(config),
      fetch_(fetch),
      max_bytes_(max_bytes),
      region_(std::move(region)),
      endpoint_(std::move(endpoint)),
      credentials_(AwsCredentialsChain::Config{}, std::move(env)) {}

std::string S3Source::ObjectUrl(const Location& location) const {
  std::string path = "/" + UriEncode(location.key, /*keep_slash=*/true);
  std::string url;
  // Bucket names with dots break the TLS wildcard certificate of virtual-hosted addressing, so
  // they always use path style, as the AWS SDKs do.
  if (config_.path_style || location.bucket.find('.') != std::string::npos) {
    url = endpoint_ + "/" + location.bucket + path;
  } else {
    size_t host = endpoint_.find("://") + 3;
    url = endpoint_.substr(0, host) + location.bucket + "." + endpoint_.substr(host) + path;
  }
  if (!location.version_id.empty()) url += "?versionId=" + UriEncode(location.version_id, false);
  return url;
}

Result<SourceImage> S3Source::Fetch(std::string_view url) const {
  auto location = ParseUrl(url);
  if (!location) return std::unexpected(location.error());
  if (!config_.allowed_buckets.empty() &&
      std::find(config_.allowed_buckets.begin(), config_.allowed_buckets.end(),
                location->bucket) == config_.allowed_buckets.end()) {
    return Fail(ErrorCode::kForbidden, "bucket \"" + location->bucket + "\" is not allowed");
  }
  auto creds = credentials_.Get();
  if (!creds) {
    return Fail(ErrorCode::kBadGateway, "S3 credentials are not available on this server");
  }
  HttpRequest request = fetch_.Request(ObjectUrl(*location), max_bytes_, "S3 object");
  request.aws_sigv4 = "aws:amz:" + region_ + ":s3";
  request.user_pwd = creds->access_key_id + ":" + creds->secret_access_key;
  // S3 requires the payload hash header on every SigV4 request; a GET has an empty payload.
  request.headers.push_back(
      "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  if (!creds->session_token.empty()) {
    request.headers.push_back("x-amz-security-token: " + creds->session_token);
  }
  auto response = http_.PerformWithRetry(request, fetch_.Retry());
  if (!response) return std::unexpected(response.error());
  const long status = response->status;
  if (status == 200) {
    SourceImage image;
    image.last_modified = response->last_modified;
    if (response->file) {
      image.file = std::move(response->file);
    } else {
      image.bytes = common::MakeShared(std::move(response->body));
    }
    return image;
  }
  std::string code = ErrorCodeOf(response->body);
  std::string detail = std::to_string(status) + (code.empty() ? "" : " " + code);
  if (status == 404) return Fail(ErrorCode::kNotFound, "source not found");
  if (status == 403 || status == 401) {
    return Fail(ErrorCode::kBadGateway,
                "S3 refused access to the source (" + detail +
                    "): check this server's AWS credentials and the bucket policy");
  }
  if (status == 301 || status == 307 || code == "AuthorizationHeaderMalformed") {
    return Fail(ErrorCode::kBadGateway,
                "S3 bucket is not in region " + region_ + " (" + detail + "): set AWS_REGION");
  }
  return Fail(ErrorCode::kBadGateway, "S3 answered " + detail);
}

}  // namespace imgorigin::origin
