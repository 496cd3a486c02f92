#include "origin/cli.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "common/handle.h"
#include "origin/image_plan.h"
#include "signing/signer.h"

namespace imgorigin::origin {
namespace {

size_t Discard(char*, size_t size, size_t count, void*) { return size * count; }

}  // namespace

std::string DefaultHealthUrl(const Config& config) {
  auto host_port = ParseHostPort(config.bind);  // validated with the config
  if (!host_port || host_port->second == 0) return "";
  std::string host = host_port->first;
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(host_port->second) + "/health";
}

int Healthcheck(const std::string& url, std::chrono::milliseconds timeout) {
  if (url.empty()) {
    std::fprintf(stderr,
                 "imgorigin healthcheck: server.bind has port 0, so there is no port to probe: "
                 "pass --url\n");
    return 1;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  common::Handle<CURL, curl_easy_cleanup> curl(curl_easy_init());
  if (!curl) return 1;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, Discard);
  const CURLcode result = curl_easy_perform(curl.get());
  if (result != CURLE_OK) {
    std::fprintf(stderr, "imgorigin healthcheck: %s: %s\n", url.c_str(),
                 curl_easy_strerror(result));
    return 1;
  }
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    std::fprintf(stderr, "imgorigin healthcheck: %s answered %ld\n", url.c_str(), status);
    return 1;
  }
  return 0;
}

void WarnUnknownVariables(const std::vector<std::string>& variables) {
  for (const auto& name : UnknownSettingVariables(variables)) {
    spdlog::warn("{} is not a setting (typo?); it is ignored. Settings: conf/reference.toml", name);
  }
}

int CheckConfig(const Config& config, const std::vector<std::string>& variables) {
  const auto unknown = UnknownSettingVariables(variables);
  for (const auto& name : unknown) {
    std::fprintf(stderr,
                 "imgorigin: configuration error: %s is not a setting (typo?); settings are "
                 "listed in conf/reference.toml\n",
                 name.c_str());
  }
  if (!unknown.empty()) return 2;
  std::printf("configuration OK: listening on %s, %zu signing key pair(s)%s\n", config.bind.c_str(),
              config.signing.keys.size(), config.ingest.enabled ? ", ingest on" : "");
  return 0;
}

int SignPath(const Config& config, const std::string& path, const std::string& base_url) {
  if (config.signing.keys.empty()) {
    std::fprintf(stderr,
                 "imgorigin sign: no signing keys configured (signing.key and signing.salt, or "
                 "IMGORIGIN_KEY and IMGORIGIN_SALT)\n");
    return 2;
  }
  if (path.empty() || path.front() != '/') {
    std::fprintf(
        stderr,
        "imgorigin sign: the path must start with '/', e.g. /rs:fit:300:0/plain/local:///a.jpg\n");
    return 2;
  }
  signing::Signer signer(config.signing);
  const std::string signed_path = "/" + signer.Sign(path) + path;
  // Dialect paths (/api/v1/img/…) are signed for their s= parameter and have their own grammar.
  if (!path.starts_with("/api/")) {
    Planner planner(config, signer);
    auto plan = planner.Make([](const char*) -> const char* { return nullptr; }, signed_path);
    if (!plan) {
      std::fprintf(stderr, "imgorigin sign: %s\n", plan.error().message.c_str());
      return 2;
    }
  }
  std::string prefix = base_url;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  std::printf("%s%s\n", prefix.c_str(), signed_path.c_str());
  return 0;
}

}  // namespace imgorigin::origin
