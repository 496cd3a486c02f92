// AWS credentials, found the way the AWS SDKs find them, and kept fresh.
//
// Providers are tried in the SDKs' order; the first that is configured and answers wins:
//   1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
//   2. shared credentials file: AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials),
//      profile AWS_PROFILE (default "default");
//   3. ECS/EKS container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on 169.254.170.2) or
//      AWS_CONTAINER_CREDENTIALS_FULL_URI, with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or
//      AWS_CONTAINER_AUTHORIZATION_TOKEN as the Authorization header;
//   4. EC2 instance metadata, IMDSv2 (a session token PUT, then GETs), at
//      AWS_EC2_METADATA_SERVICE_ENDPOINT (default http://169.254.169.254) unless
//      AWS_EC2_METADATA_DISABLED=true.
// Temporary credentials (those with an expiry) are fetched again once they are within
// `refresh_margin` of expiring; while a refresh fails, still-valid old credentials are kept.
//
// Get() blocks on the network when it has to (re)load: call it from an I/O thread. Thread-safe;
// one caller refreshes while the others keep using the current credentials if they are valid.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/curl_client.h"

namespace imgorigin::storage {

// The same alias as in origin/config.h (which includes this header through the sources'
// configs): a process-environment lookup, replaceable in tests.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;                                        // "" for long-term keys
  std::optional<std::chrono::system_clock::time_point> expiration;  // unset: never expires
  std::string provider;  // "environment", "profile", "container", "imds": for logs
};

// Parses an INI-style AWS credentials file and returns the keys of `profile`, or nullopt when the
// profile or its keys are missing.
std::optional<AwsCredentials> ParseCredentialsFile(std::string_view text, std::string_view profile);

// Parses the JSON the container endpoint and IMDS answer with ({"AccessKeyId", "SecretAccessKey",
// "Token", "Expiration"}).
common::Result<AwsCredentials> ParseCredentialsJson(std::string_view json);

// "2024-05-01T12:00:00Z" (also with fractional seconds or an offset) → time point.
std::optional<std::chrono::system_clock::time_point> ParseIso8601(std::string_view text);

class AwsCredentialsChain {
 public:
  struct Config {
    std::chrono::seconds refresh_margin{300};  // refresh temporary credentials this early
    std::chrono::milliseconds timeout{2000};   // per request to a metadata endpoint
  };

  AwsCredentialsChain(Config config, EnvLookup env);

  // Current credentials, loading or refreshing them first when needed.
  common::Result<AwsCredentials> Get();

 private:
  common::Result<AwsCredentials> Load() const;
  std::optional<common::Result<AwsCredentials>> FromEnvironment() const;
  std::optional<common::Result<AwsCredentials>> FromProfile() const;
  std::optional<common::Result<AwsCredentials>> FromContainer() const;
  std::optional<common::Result<AwsCredentials>> FromImds() const;
  std::optional<std::string> Env(std::string_view name) const;

  const Config config_;
  const EnvLookup env_;
  CurlClient http_;        // no address guard: metadata endpoints are link-local by design
  std::mutex mu_;          // guards current_
  std::mutex refresh_mu_;  // one refresh at a time
  std::optional<AwsCredentials> current_;
};

}  // namespace imgorigin::storage
