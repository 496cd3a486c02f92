#include "cache/s3_result_tier.h"

namespace imgorigin::cache {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

// Far above any encoded variant; only keeps a misconfigured bucket from filling memory.
constexpr int64_t kMaxEntryBytes = 256ll << 20;

// A failure of the tier: TieredCache counts it, logs it (rate-limited) and treats it as a miss.
common::Error Refused(const storage::HttpResponse& response) {
  if (response.status == 401 || response.status == 403) {
    return {ErrorCode::kUpstreamFailed,
            "S3 result bucket refused access (" + storage::S3StatusDetail(response) +
                "): check this server's AWS credentials and that the bucket policy grants "
                "s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket"};
  }
  return {ErrorCode::kUpstreamFailed,
          "S3 result bucket answered " + storage::S3StatusDetail(response)};
}

}  // namespace

Result<void> S3ResultTier::Config::Validate() const {
  auto bad = [](std::string what) { return Fail(ErrorCode::kInvalidArgument, std::move(what)); };
  if (bucket.empty()) return {};
  if (!storage::IsValidBucketName(bucket)) return bad("\"" + bucket + "\" is not a bucket name");
  if (prefix.starts_with("/")) return bad("the prefix must not start with \"/\"");
  if (prefix.size() > 512) return bad("the prefix is longer than 512 bytes");
  if (!endpoint.empty() && !endpoint.starts_with("http://") && !endpoint.starts_with("https://")) {
    return bad("the endpoint must start with http:// or https://");
  }
  if (timeout.count() <= 0) return bad("the timeout must be > 0");
  return {};
}

Result<std::unique_ptr<S3ResultTier>> S3ResultTier::Create(const Config& config,
                                                           const storage::S3Client::Config& client,
                                                           storage::EnvLookup env) {
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  if (config.bucket.empty())
    return Fail(ErrorCode::kInvalidArgument, "no S3 result bucket configured");
  auto s3 = storage::S3Client::Create(client, std::move(env));
  if (!s3) return std::unexpected(s3.error());
  return std::unique_ptr<S3ResultTier>(new S3ResultTier(config, *std::move(s3)));
}

S3ResultTier::S3ResultTier(const Config& config, std::unique_ptr<storage::S3Client> s3)
    : config_(config), s3_(std::move(s3)) {}

std::string S3ResultTier::ObjectKey(const std::string& key) const {
  // Two hex digits spread the keys over 256 prefixes (S3 scales request rates per prefix) and
  // mirror the disk tier's layout.
  return config_.prefix + key.substr(0, 2) + "/" + key;
}

storage::HttpRequest S3ResultTier::Request(const char* method, const std::string& key) const {
  storage::HttpRequest request;
  request.method = method;
  request.url = s3_->ObjectUrl({.bucket = config_.bucket, .key = ObjectKey(key)});
  request.connect_timeout = config_.timeout;
  request.timeout = config_.timeout;
  request.max_bytes = kMaxEntryBytes;
  request.what = "S3 result bucket";
  return request;
}

Result<storage::HttpResponse> S3ResultTier::Perform(const storage::HttpRequest& request) const {
  // No retries: the next request is the retry, and the breaker stops a failing bucket from
  // costing a timeout per look-up.
  return s3_->Perform(request, storage::RetryPolicy{.retries = 0});
}

Result<std::optional<std::string>> S3ResultTier::Get(const std::string& key) {
  auto response = Perform(Request("GET", key));
  if (!response) return std::unexpected(response.error());
  if (response->status == 404) return std::nullopt;
  if (response->status != 200) return std::unexpected(Refused(*response));
  return std::optional<std::string>(std::move(response->body));
}

Result<bool> S3ResultTier::Put(const std::string& key, std::string_view entry) {
  storage::HttpRequest request = Request("PUT", key);
  // The object is an imgorigin entry (header + image), not an image a browser could show.
  request.headers.push_back("Content-Type: application/octet-stream");
  request.body = entry;
  auto response = Perform(request);
  if (!response) return std::unexpected(response.error());
  if (response->status != 200) return std::unexpected(Refused(*response));
  return true;
}

Result<void> S3ResultTier::Erase(const std::string& key) {
  auto response = Perform(Request("DELETE", key));
  if (!response) return std::unexpected(response.error());
  // S3 answers 204 whether or not the object existed.
  if (response->status != 204 && response->status != 200 && response->status != 404) {
    return std::unexpected(Refused(*response));
  }
  return {};
}

}  // namespace imgorigin::cache
