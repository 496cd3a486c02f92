// AWS Signature Version 4, written once (OpenSSL HMAC-SHA256), in its forms:
// - SignS3Request(): the Authorization header of every request S3Client sends;
// - SignAwsRequest(): the same for the other services (SQS, SNS: aws_api_client.h), whose
//   scope names their service and which take no x-amz-content-sha256 header;
// - PresignS3Url(): query-string presigning ("presigned URLs"), S3's "Authenticating Requests:
//   Using Query Parameters": a URL that carries its own signature, so a client without AWS
//   credentials (a browser, `curl -T`) can PUT or GET one object until the URL expires; the
//   payload is UNSIGNED-PAYLOAD.
// Both build the same canonical request: method, the URL's path as it is sent (each segment
// percent-encoded once, as S3Client::ObjectUrl() writes it: S3 does not encode it again), the
// query sorted by encoded name, the signed headers sorted by lowercase name, and the payload
// hash.
//
// libcurl's own CURLOPT_AWS_SIGV4 is not used: the 7.88 in Debian 12 sorts the signed headers
// as whole "name:value" lines, which puts x-amz-server-side-encryption-aws-kms-key-id before
// x-amz-server-side-encryption, and S3 then refuses the signature: SSE-KMS with a key id could
// not be asked for.
//
// S3Client (s3_client.h) is what callers use: it adds the URL, region and current credentials.
// Pure functions; any thread.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "storage/aws_credentials.h"

namespace imgorigin::storage {

// S3 accepts presigned URLs valid for 1 second up to 7 days.
inline constexpr std::chrono::seconds kMinPresignExpiry{1};
inline constexpr std::chrono::seconds kMaxPresignExpiry{7 * 24 * 3600};

struct PresignParams {
  std::string method = "GET";  // the method the URL is for: GET, PUT, HEAD or DELETE
  // scheme://host[:port]/path[?query], path and query already percent-encoded once.
  std::string url;
  // Headers the request must carry with exactly these values (Content-Type, x-amz-server-side-
  // encryption …); they are signed, so a request with another value is refused. Host is always
  // signed and must not be listed.
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::seconds expires{900};          // kMinPresignExpiry .. kMaxPresignExpiry
  std::chrono::system_clock::time_point now;  // the signing time (X-Amz-Date)
};

// `params.url` with the X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders,
// -Security-Token (temporary credentials only) and -Signature query parameters added. An expiry
// out of bounds, an unknown method or a malformed URL is kInvalidArgument.
common::Result<std::string> PresignS3Url(const PresignParams& params,
                                         const AwsCredentials& credentials,
                                         std::string_view region);

// Signs a request to `url`: appends X-Amz-Date, x-amz-content-sha256 (`payload_sha256`, the hex
// SHA-256 of the body), X-Amz-Security-Token for temporary credentials, and Authorization to
// `headers` ("Name: value" lines, as HttpRequest holds them). Every header already in `headers`
// is signed, so it must be sent exactly as written; Host is taken from the URL. A malformed URL
// or header, or a header given twice, is kInvalidArgument.
common::Result<void> SignS3Request(std::string_view method, std::string_view url,
                                   std::vector<std::string>& headers,
                                   std::string_view payload_sha256,
                                   const AwsCredentials& credentials, std::string_view region,
                                   std::chrono::system_clock::time_point now);

// SignS3Request() for another AWS service ("sqs", "sns"): the scope names `service`, and no
// x-amz-content-sha256 header is added (that header is S3's; the payload hash is signed all the
// same as the canonical request's last line).
common::Result<void> SignAwsRequest(std::string_view service, std::string_view method,
                                    std::string_view url, std::vector<std::string>& headers,
                                    std::string_view payload_sha256,
                                    const AwsCredentials& credentials, std::string_view region,
                                    std::chrono::system_clock::time_point now);

}  // namespace imgorigin::storage
