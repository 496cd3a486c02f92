// Calls to the AWS APIs beside S3 that imgorigin uses: SQS (the job queue, S3 event
// notifications) and SNS (notifications). Two wire protocols, one client:
// - CallJson(): the AWS JSON 1.0 protocol (SQS): POST / with X-Amz-Target: <Service>.<Action>,
//   Content-Type application/x-amz-json-1.0 and a JSON document each way;
// - CallQuery(): the query protocol (SNS): POST / with a form-encoded Action=…&Version=…&…, an
//   XML answer.
// Every request is signed with SigV4 (sigv4.h: the project's signer, not libcurl's) with the
// current credentials of the AWS chain (aws_credentials.h), sent over CurlClient with bounded
// connect and total timeouts and retried after 429 and 5xx answers and dropped connections
// (RetryPolicy). SQS says "throttled" with a 400 ThrottlingException: that one is not retried
// here but returned as kUnavailable, for the caller's own backoff.
//
// Errors in domain terms, from the AWS error code of a JSON ({"__type": "…#Code"}) or XML
// (<Code>) error body, or the status when there is none:
//   throttling, 5xx, timeouts, unreachable endpoint, no credentials   → kUnavailable
//   refused credentials or signature, access denied                    → kPermissionDenied
//   a queue or topic that does not exist                               → kNotFound
//   a receipt handle that is no longer valid (SQS)                     → kConflict
//   any other refusal (a bad parameter …) or an answer that is garbage → kUpstreamFailed
// The message names the service, the action, the status, AWS's code and (cut to 200 bytes)
// AWS's message, e.g. "SQS ReceiveMessage: 400 QueueDoesNotExist: The specified queue does
// not exist."
//
// Every call blocks on the network: call it from an I/O thread, never an event loop. Thread-safe;
// each client owns its credentials chain and its connection pool.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "storage/aws_credentials.h"
#include "storage/curl_client.h"

namespace imgorigin::storage {

// The region to sign for: `configured`, else AWS_REGION, AWS_DEFAULT_REGION, else us-east-1.
std::string ResolveAwsRegion(std::string_view configured, const EnvLookup& env);

// The endpoint of `service` ("s3", "sqs", "sns"), as the AWS SDKs find it: `configured`, else
// AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, else https://<service>.<region>.amazonaws.com;
// without trailing slashes. Anything but an http(s) URL is kInvalidArgument.
common::Result<std::string> ResolveAwsEndpoint(std::string_view configured,
                                               std::string_view service, std::string_view region,
                                               const EnvLookup& env);

// Whether `text` is UTF-8 of XML 1.0's characters (#x9, #xA, #xD, #x20-#xD7FF, #xE000-#xFFFD,
// and with `beyond_bmp` #x10000-#x10FFFF): what SQS takes as a message body or attribute and SNS
// as a message. Overlong forms and surrogates are not UTF-8.
bool IsAwsText(std::string_view text, bool beyond_bmp = true);

// AWS's error code in an error answer: the JSON protocol's "__type" (its part after "#" and
// before ":"), the x-amzn-ErrorType header, or the XML <Code>; "" when there is none or it is
// not a plain identifier (dots allowed: "AWS.SimpleQueueService.NonExistentQueue").
std::string AwsErrorCode(const HttpResponse& response);

// A non-2xx answer as an Error (the table above); `what` starts the message ("SQS SendMessage").
common::Error AwsApiError(const HttpResponse& response, std::string_view what);

class AwsApiClient {
 public:
  struct Config {
    std::string service;   // signing name and endpoint prefix: "sqs", "sns"
    std::string region;    // "" = ResolveAwsRegion()
    std::string endpoint;  // "" = ResolveAwsEndpoint()
    std::chrono::milliseconds connect_timeout{3000};
    // Per request, on top of the long-poll wait a call asks for (CallJson's `wait`).
    std::chrono::milliseconds timeout{10'000};
    RetryPolicy retry;
    // Larger answers fail (kUpstreamFailed): ten 1 MiB SQS messages, JSON-escaped, fit.
    int64_t max_response_bytes = int64_t{64} << 20;

    common::Result<void> Validate() const;
  };

  // Resolves region and endpoint from `config` and the AWS_* variables in `env`; credentials
  // are looked up on the first call, not here. A bad config is kInvalidArgument.
  static common::Result<std::unique_ptr<AwsApiClient>> Create(Config config, EnvLookup env);

  // One JSON-protocol call: `target` is the X-Amz-Target ("AmazonSQS.SendMessage"), `request`
  // the body; returns the answer's JSON ({} for an empty body). `wait` is how long the server
  // may hold the request on purpose (SQS long polling), added to the timeout.
  common::Result<nlohmann::json> CallJson(std::string_view target, const nlohmann::json& request,
                                          std::chrono::milliseconds wait = {}) const;

  // One query-protocol call: Action=`action`&Version=`version` and `params` (names and values
  // as AWS documents them, encoded here); returns the XML answer.
  common::Result<std::string> CallQuery(
      std::string_view action, std::string_view version,
      const std::vector<std::pair<std::string, std::string>>& params) const;

  const std::string& region() const { return region_; }
  const std::string& endpoint() const { return endpoint_; }

 private:
  AwsApiClient(Config config, EnvLookup env, std::string region, std::string endpoint);

  // Signs and sends one POST /; `what` names the call in errors.
  common::Result<HttpResponse> Post(std::string_view what, std::vector<std::string> headers,
                                    const std::string& body, std::chrono::milliseconds wait) const;

  const Config config_;
  const std::string region_;
  const std::string endpoint_;       // scheme://host[:port], no trailing slash
  const std::string service_label_;  // "SQS": names the service in error messages
  mutable AwsCredentialsChain credentials_;
  CurlClient http_;  // no address guard: the endpoint is the operator's choice
};

}  // namespace imgorigin::storage
