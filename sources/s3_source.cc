#include "sources/s3_source.h"

#include <algorithm>

namespace imgorigin::sources {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

constexpr std::string_view kVersionQuery = "?versionId=";

}  // namespace

Result<void> S3Source::Config::Validate() const {
  for (const auto& bucket : allowed_buckets) {
    if (!storage::IsValidBucketName(bucket)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "s3 allowed bucket \"" + bucket + "\" is not a bucket name");
    }
  }
  if (!endpoint.empty() && !endpoint.starts_with("http://") && !endpoint.starts_with("https://")) {
    return Fail(ErrorCode::kInvalidArgument, "s3 endpoint must start with http:// or https://");
  }
  return {};
}

Result<S3Source::Location> S3Source::ParseUrl(std::string_view url) {
  if (!url.starts_with("s3://")) return Fail(ErrorCode::kInvalidArgument, "not an s3:// source");
  std::string_view rest = url.substr(5);
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 >= rest.size()) {
    return Fail(ErrorCode::kInvalidArgument, "s3 source must be s3://bucket/key");
  }
  Location location;
  location.bucket = rest.substr(0, slash);
  std::string_view key = rest.substr(slash + 1);
  if (size_t q = key.rfind(kVersionQuery); q != std::string_view::npos) {
    location.version_id = key.substr(q + kVersionQuery.size());
    key = key.substr(0, q);
    if (location.version_id.empty() || key.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "s3 source has an empty key or versionId");
    }
  }
  if (!storage::IsValidBucketName(location.bucket)) {
    return Fail(ErrorCode::kInvalidArgument, "s3 source names an invalid bucket");
  }
  location.key = key;
  return location;
}

Result<std::unique_ptr<S3Source>> S3Source::Create(const Config& config,
                                                   const storage::FetchConfig& fetch,
                                                   int64_t max_bytes, storage::EnvLookup env) {
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  auto s3 = storage::S3Client::Create(
      {.region = config.region, .endpoint = config.endpoint, .path_style = config.path_style},
      std::move(env));
  if (!s3) return std::unexpected(s3.error());
  return std::unique_ptr<S3Source>(new S3Source(config, fetch, max_bytes, *std::move(s3)));
}

S3Source::S3Source(const Config& config, const storage::FetchConfig& fetch, int64_t max_bytes,
                   std::unique_ptr<storage::S3Client> s3)
    : config_(config), fetch_(fetch), max_bytes_(max_bytes), s3_(std::move(s3)) {}

std::string S3Source::ObjectUrl(const Location& location) const { return s3_->ObjectUrl(location); }

Result<SourceImage> S3Source::Fetch(std::string_view url) const {
  auto location = ParseUrl(url);
  if (!location) return std::unexpected(location.error());
  if (!config_.allowed_buckets.empty() &&
      std::find(config_.allowed_buckets.begin(), config_.allowed_buckets.end(), location->bucket) ==
          config_.allowed_buckets.end()) {
    return Fail(ErrorCode::kPermissionDenied, "bucket \"" + location->bucket + "\" is not allowed");
  }
  auto response = s3_->GetObject(*location, fetch_.Request("", max_bytes_, "S3 object"),
                                 fetch_.Retry(), "S3 source");
  if (!response) return std::unexpected(response.error());
  return TakeSourceImage(*std::move(response));
}

}  // namespace imgorigin::sources
