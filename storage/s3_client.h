// S3 object requests (GET, PUT, DELETE) for everything that talks to S3: the s3:// source and the
// S3 result tier. One place resolves region and endpoint the AWS way, addresses objects
// (virtual-hosted or path style), and signs requests: libcurl does the SigV4 signature
// (CURLOPT_AWS_SIGV4) with credentials from the AWS chain (aws_credentials.h); this class adds
// the x-amz-content-sha256 payload hash S3 requires and the session token of temporary
// credentials.
//
// Each key segment is percent-encoded once (RFC 3986 unreserved characters and "/" kept), the
// canonical form SigV4 signs. Keys are literal, dot segments included: "s3://b/../c/k" is key
// "../c/k" in bucket "b", and the request path ends in "/../c/k" as sent and as signed
// (CurlClient never resolves dots), so path-style addressing still names bucket "b". Escaping
// the dots ("%2E%2E") would fail: S3 re-encodes each segment with "." unreserved when it checks
// the signature. Each client owns its credentials chain and its connection pool.
// Perform() blocks on the network: call it from an I/O thread. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/aws_credentials.h"
#include "storage/curl_client.h"

namespace imgorigin::storage {

class S3Client {
 public:
  struct Config {
    std::string region;  // "" = AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1
    // "" = AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, then https://s3.<region>.amazonaws.com
    std::string endpoint;
    bool path_style = false;  // endpoint/bucket/key instead of bucket.endpoint/key
  };

  struct Object {
    std::string bucket;
    std::string key;         // literal: no escaping of its own
    std::string version_id;  // "" = latest
  };

  // Resolves region and endpoint from `config` and the AWS_* variables in `env`; credentials
  // are looked up on the first request, not here.
  static common::Result<std::unique_ptr<S3Client>> Create(const Config& config, EnvLookup env);

  // The request URL for `object`.
  std::string ObjectUrl(const Object& object) const;

  // Signs `request` (method, URL, body, limits and extra headers already set by the caller) and
  // performs it. Any HTTP status is a response; missing credentials and transport failures are
  // errors (kUpstreamFailed, kDeadlineExceeded …).
  common::Result<HttpResponse> Perform(HttpRequest request, const RetryPolicy& retry) const;

  const std::string& region() const { return region_; }
  const std::string& endpoint() const { return endpoint_; }

 private:
  S3Client(const Config& config, EnvLookup env, std::string region, std::string endpoint);

  const bool path_style_;
  const std::string region_;
  const std::string endpoint_;  // scheme://host[:port], no trailing slash
  mutable AwsCredentialsChain credentials_;
  CurlClient http_;  // no address guard: the endpoint is the operator's choice, not a URL's
};

// S3's error code from an XML error body ("<Code>SlowDown</Code>"), or "" when there is none or
// it is not a plain identifier (it is shown to clients and in logs).
std::string S3ErrorCode(std::string_view body);

// "403 AccessDenied", or just "403" when the body names no code: for error messages.
std::string S3StatusDetail(const HttpResponse& response);

// RFC 1123-ish bucket names; also keeps "/" and ".." out of request paths.
bool IsValidBucketName(std::string_view bucket);

}  // namespace imgorigin::storage
