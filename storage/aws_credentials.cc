#include "storage/aws_credentials.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace imgorigin::storage {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;
using SystemClock = std::chrono::system_clock;

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  return text;
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Result<AwsCredentials> Unavailable(std::string_view provider, std::string_view why) {
  return Fail(ErrorCode::kUpstreamFailed,
              "AWS credentials from " + std::string(provider) + ": " + std::string(why));
}

// The ECS agent and EKS Pod Identity serve plain HTTP on these link-local addresses; any other
// plain-HTTP full URI must be loopback, as in the AWS SDKs, so a poisoned environment cannot
// send the authorization token elsewhere.
bool AllowedContainerUrl(std::string_view url) {
  if (url.starts_with("https://")) return true;
  if (!url.starts_with("http://")) return false;
  std::string_view host = url.substr(7);
  host = host.substr(0, host.find('/'));
  if (host.starts_with("[")) {
    host = host.substr(1, host.find(']') - 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  return host == "localhost" || host.starts_with("127.") || host == "::1" ||
         host == "169.254.170.2" || host == "169.254.170.23" || host == "fd00:ec2::23";
}

}  // namespace

std::optional<AwsCredentials> ParseCredentialsFile(std::string_view text,
                                                   std::string_view profile) {
  AwsCredentials creds;
  creds.provider = "profile";
  bool in_profile = false;
  while (!text.empty()) {
    // A lone CR ends a line too: kept inside a value, it would reach a request header.
    size_t eol = text.find_first_of("\r\n");
    std::string_view line = Trim(text.substr(0, eol));
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      std::string_view name = Trim(line.substr(1, line.find(']') - 1));
      in_profile = name == profile;
      continue;
    }
    if (!in_profile) continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = Trim(line.substr(0, eq));
    std::string value(Trim(line.substr(eq + 1)));
    if (key == "aws_access_key_id") creds.access_key_id = value;
    if (key == "aws_secret_access_key") creds.secret_access_key = value;
    if (key == "aws_session_token") creds.session_token = value;
  }
  if (creds.access_key_id.empty() || creds.secret_access_key.empty()) return std::nullopt;
  return creds;
}

std::optional<SystemClock::time_point> ParseIso8601(std::string_view text) {
  std::tm tm{};
  std::string s(text);
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr) return std::nullopt;
  std::string_view rest(end);
  if (rest.starts_with(".")) {
    rest.remove_prefix(1);
    while (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest.front())))
      rest.remove_prefix(1);
  }
  int64_t offset = 0;
  if (!rest.empty() && (rest.front() == '+' || rest.front() == '-') && rest.size() >= 6) {
    int hours = 0;
    int minutes = 0;
    std::from_chars(rest.data() + 1, rest.data() + 3, hours);
    std::from_chars(rest.data() + 4, rest.data() + 6, minutes);
    offset = (rest.front() == '+' ? 1 : -1) * (hours * 3600 + minutes * 60);
  } else if (rest != "Z" && !rest.empty()) {
    return std::nullopt;
  }
  // system_clock counts nanoseconds in 64 bits, from 1677 to 2262: dates outside 1970–2200 are
  // clamped (an expiration before 1970 has passed; one after 2200 outlives this process).
  constexpr std::time_t kLatest = 7'258'118'400;  // 2200-01-01T00:00:00Z
  return SystemClock::from_time_t(std::clamp<std::time_t>(timegm(&tm) - offset, 0, kLatest));
}

Result<AwsCredentials> ParseCredentialsJson(std::string_view json) {
  auto doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  auto text = [&doc](const char* key) -> std::string {
    auto it = doc.find(key);
    return it != doc.end() && it->is_string() ? it->get<std::string>() : "";
  };
  if (!doc.is_object()) return Fail(ErrorCode::kUpstreamFailed, "credentials answer is not JSON");
  AwsCredentials creds;
  creds.access_key_id = text("AccessKeyId");
  creds.secret_access_key = text("SecretAccessKey");
  creds.session_token = text("Token");
  if (std::string expiration = text("Expiration"); !expiration.empty()) {
    creds.expiration = ParseIso8601(expiration);
    if (!creds.expiration)
      return Fail(ErrorCode::kUpstreamFailed, "credentials expiry is not a date");
  }
  if (creds.access_key_id.empty() || creds.secret_access_key.empty()) {
    return Fail(ErrorCode::kUpstreamFailed,
                "credentials answer has no AccessKeyId/SecretAccessKey");
  }
  return creds;
}

AwsCredentialsChain::AwsCredentialsChain(Config config, EnvLookup env)
    : config_(config), env_(std::move(env)) {}

std::optional<std::string> AwsCredentialsChain::Env(std::string_view name) const {
  auto value = env_(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

Result<AwsCredentials> AwsCredentialsChain::Get() {
  auto usable = [](const AwsCredentials& c, std::chrono::seconds margin) {
    return !c.expiration || SystemClock::now() + margin < *c.expiration;
  };
  {
    std::lock_guard lock(mu_);
    if (current_ && usable(*current_, config_.refresh_margin)) return *current_;
  }
  std::unique_lock refresh(refresh_mu_, std::try_to_lock);
  if (!refresh.owns_lock()) {
    // Another thread is refreshing: keep going with what we have if it has not expired yet.
    {
      std::lock_guard lock(mu_);
      if (current_ && usable(*current_, std::chrono::seconds(0))) return *current_;
    }
    refresh.lock();
    std::lock_guard lock(mu_);
    if (current_ && usable(*current_, config_.refresh_margin)) return *current_;
  }
  auto loaded = Load();
  std::lock_guard lock(mu_);
  if (!loaded) {
    if (current_ && usable(*current_, std::chrono::seconds(0))) {
      spdlog::warn(
          "refreshing AWS credentials failed ({}); using the current ones until they "
          "expire",
          loaded.error().message);
      return *current_;
    }
    return loaded;
  }
  if (!current_ || current_->access_key_id != loaded->access_key_id) {
    spdlog::info("AWS credentials from {} ({})", loaded->provider,
                 loaded->expiration ? "temporary" : "long-term");
  }
  current_ = *loaded;
  return loaded;
}

Result<AwsCredentials> AwsCredentialsChain::Load() const {
  std::string failures;
  for (auto provider : {&AwsCredentialsChain::FromEnvironment, &AwsCredentialsChain::FromProfile,
                        &AwsCredentialsChain::FromContainer, &AwsCredentialsChain::FromImds}) {
    auto found = (this->*provider)();
    if (!found) continue;  // not configured
    if (*found) return **found;
    spdlog::warn("{}", found->error().message);
    failures += (failures.empty() ? "" : "; ") + found->error().message;
  }
  return Fail(ErrorCode::kUpstreamFailed,
              "no AWS credentials found" + (failures.empty() ? std::string() : ": " + failures));
}

std::optional<Result<AwsCredentials>> AwsCredentialsChain::FromEnvironment() const {
  auto id = Env("AWS_ACCESS_KEY_ID");
  auto secret = Env("AWS_SECRET_ACCESS_KEY");
  if (!id || !secret) return std::nullopt;
  AwsCredentials creds{*id, *secret, Env("AWS_SESSION_TOKEN").value_or(""), std::nullopt,
                       "environment"};
  return creds;
}

std::optional<Result<AwsCredentials>> AwsCredentialsChain::FromProfile() const {
  std::string path;
  if (auto file = Env("AWS_SHARED_CREDENTIALS_FILE")) {
    path = *file;
  } else if (auto home = Env("HOME")) {
    path = *home + "/.aws/credentials";
  } else {
    return std::nullopt;
  }
  auto text = ReadFile(path);
  if (!text) return std::nullopt;
  std::string profile = Env("AWS_PROFILE").value_or("default");
  auto creds = ParseCredentialsFile(*text, profile);
  if (!creds) return std::nullopt;
  return *creds;
}

std::optional<Result<AwsCredentials>> AwsCredentialsChain::FromContainer() const {
  std::string url;
  if (auto relative = Env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
    url = "http://169.254.170.2" + *relative;
  } else if (auto full = Env("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
    url = *full;
    if (!AllowedContainerUrl(url)) {
      return Unavailable("container",
                         "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https or a "
                         "loopback/ECS/EKS address");
    }
  } else {
    return std::nullopt;
  }
  HttpRequest request;
  request.url = url;
  request.connect_timeout = config_.timeout;
  request.timeout = config_.timeout;
  request.max_bytes = 64 * 1024;
  request.what = "container credentials endpoint";
  std::optional<std::string> token;
  if (auto file = Env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
    token = ReadFile(*file);
    if (!token)
      return Unavailable("container", "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    *token = std::string(Trim(*token));
  } else {
    token = Env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  }
  if (token) request.headers.push_back("Authorization: " + *token);
  auto response = http_.PerformWithRetry(request, {.retries = 1});
  if (!response) return Unavailable("container", response.error().message);
  if (response->status != 200) {
    return Unavailable("container", "endpoint answered " + std::to_string(response->status));
  }
  auto creds = ParseCredentialsJson(response->body);
  if (!creds) return Unavailable("container", creds.error().message);
  creds->provider = "container";
  return creds;
}

std::optional<Result<AwsCredentials>> AwsCredentialsChain::FromImds() const {
  if (auto disabled = Env("AWS_EC2_METADATA_DISABLED"); disabled && *disabled == "true") {
    return std::nullopt;
  }
  std::string endpoint =
      Env("AWS_EC2_METADATA_SERVICE_ENDPOINT").value_or("http://169.254.169.254");
  while (endpoint.ends_with("/")) endpoint.pop_back();
  HttpRequest request;
  request.connect_timeout = config_.timeout;
  request.timeout = config_.timeout;
  request.max_bytes = 64 * 1024;
  request.what = "instance metadata service";

  // IMDSv2: a session token first (the PUT cannot be forged by a GET-only SSRF elsewhere).
  request.method = "PUT";
  request.url = endpoint + "/latest/api/token";
  request.headers = {"X-aws-ec2-metadata-token-ttl-seconds: 21600"};
  auto token = http_.PerformWithRetry(request, {.retries = 1});
  if (!token) return Unavailable("IMDS", token.error().message);
  if (token->status != 200)
    return Unavailable("IMDS", "token request answered " + std::to_string(token->status));

  request.method = "GET";
  request.headers = {"X-aws-ec2-metadata-token: " + std::string(Trim(token->body))};
  request.url = endpoint + "/latest/meta-data/iam/security-credentials/";
  auto role = http_.PerformWithRetry(request, {.retries = 1});
  if (!role) return Unavailable("IMDS", role.error().message);
  std::string_view role_name = Trim(role->body);
  role_name = role_name.substr(0, role_name.find('\n'));
  if (role->status != 200 || role_name.empty()) {
    return Unavailable(
        "IMDS", "the instance has no IAM role (answer " + std::to_string(role->status) + ")");
  }
  request.url += UriEncode(role_name, false);
  auto answer = http_.PerformWithRetry(request, {.retries = 1});
  if (!answer) return Unavailable("IMDS", answer.error().message);
  if (answer->status != 200) {
    return Unavailable("IMDS", "credentials request answered " + std::to_string(answer->status));
  }
  auto creds = ParseCredentialsJson(answer->body);
  if (!creds) return Unavailable("IMDS", creds.error().message);
  creds->provider = "imds";
  return creds;
}

}  // namespace imgorigin::storage
