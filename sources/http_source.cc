#include "sources/http_source.h"

#include <algorithm>

namespace imgorigin::sources {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

bool HasSchemeHostSlash(std::string_view prefix) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (prefix.starts_with(scheme)) {
      size_t slash = prefix.find('/', scheme.size());
      return slash != std::string_view::npos && slash > scheme.size();
    }
  }
  return false;
}

// The path of an http(s) URL: from the "/" that ends the authority up to the query.
std::string_view PathOf(std::string_view url) {
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  size_t start = url.find_first_of("/?#", scheme + 3);
  if (start == std::string_view::npos || url[start] != '/') return {};
  std::string_view path = url.substr(start);
  return path.substr(0, path.find_first_of("?#"));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes each valid %XX once; malformed escapes stay as they are.
std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
        HexValue(text[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace

bool HasDotSegment(std::string_view url) {
  std::string path(PathOf(url));
  // Until nothing changes: every round shortens the path, so this ends.
  for (std::string decoded = PercentDecode(path); decoded != path; decoded = PercentDecode(path)) {
    path = std::move(decoded);
  }
  size_t start = 0;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i < path.size() && path[i] != '/' && path[i] != '\\') continue;
    std::string_view segment = std::string_view(path).substr(start, i - start);
    segment = segment.substr(0, segment.find(';'));
    if (segment == "." || segment == "..") return true;
    start = i + 1;
  }
  return false;
}

std::string NormalizeHttpUrl(std::string_view url) {
  url = url.substr(0, url.find('#'));
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(url.size());
  for (unsigned char c : url) {
    if (c <= 0x20 || c >= 0x7f ||
        std::string_view("\"<>\\^`{|}").find(static_cast<char>(c)) != std::string_view::npos) {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

Result<void> HttpSource::Config::Validate() const {
  for (const auto& prefix : allowed_prefixes) {
    if (!HasSchemeHostSlash(prefix)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "http allowed prefix \"" + prefix +
                      "\" must name scheme, host and path start, e.g. https://img.example.com/");
    }
    if (HasDotSegment(prefix)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "http allowed prefix \"" + prefix + "\" must not hold \".\" or \"..\" segments");
    }
  }
  for (const auto& network : allowed_networks) {
    if (auto cidr = storage::Cidr::Parse(network); !cidr) return std::unexpected(cidr.error());
  }
  if (max_redirects < 0 || max_redirects > 20) {
    return Fail(ErrorCode::kInvalidArgument, "http max_redirects: 0 to 20");
  }
  return {};
}

Result<std::unique_ptr<HttpSource>> HttpSource::Create(const Config& config,
                                                       const storage::FetchConfig& fetch,
                                                       int64_t max_bytes) {
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  storage::AddressPolicy policy{.allow_private = config.allow_private_networks};
  for (const auto& network : config.allowed_networks)
    policy.allowed.push_back(*storage::Cidr::Parse(network));
  return std::unique_ptr<HttpSource>(new HttpSource(config, fetch, max_bytes, std::move(policy)));
}

HttpSource::HttpSource(const Config& config, const storage::FetchConfig& fetch, int64_t max_bytes,
                       storage::AddressPolicy policy)
    : config_(config), fetch_(fetch), max_bytes_(max_bytes), http_(std::move(policy)) {}

Result<void> HttpSource::CheckUrl(std::string_view url) const {
  if (!url.starts_with("http://") && !url.starts_with("https://")) {
    return Fail(ErrorCode::kPermissionDenied, "source redirected to a scheme other than http(s)");
  }
  if (config_.allowed_prefixes.empty()) return {};
  bool allowed = std::any_of(config_.allowed_prefixes.begin(), config_.allowed_prefixes.end(),
                             [url](const std::string& prefix) { return url.starts_with(prefix); });
  if (!allowed)
    return Fail(ErrorCode::kPermissionDenied, "source URL is not allowed on this server");
  // The URL goes out as it is here (CurlClient never resolves dots), but the server resolves
  // them, and many decode "%2e", "%2f" or "\\" first. Refusing every spelling is safer than
  // predicting each server's reading of "/img/..%2fsecret".
  if (HasDotSegment(url)) {
    return Fail(ErrorCode::kPermissionDenied,
                "source URL is not allowed on this server (\".\" or \"..\" path segment)");
  }
  return {};
}

Result<SourceImage> HttpSource::Fetch(std::string_view source) const {
  std::string url = NormalizeHttpUrl(source);
  for (int hop = 0;; ++hop) {
    if (auto r = CheckUrl(url); !r) return std::unexpected(r.error());
    auto response =
        http_.PerformWithRetry(fetch_.Request(url, max_bytes_, "source"), fetch_.Retry());
    if (!response) return std::unexpected(response.error());
    const long status = response->status;
    if (status >= 300 && status < 400 && !response->redirect_url.empty()) {
      if (hop >= config_.max_redirects) {
        return Fail(
            ErrorCode::kUpstreamFailed,
            "source redirected more than " + std::to_string(config_.max_redirects) + " times");
      }
      url = NormalizeHttpUrl(response->redirect_url);
      continue;
    }
    if (status == 200) return TakeSourceImage(*std::move(response));
    if (status == 404 || status == 410) return Fail(ErrorCode::kNotFound, "source not found");
    if (status == 401 || status == 403) {
      return Fail(ErrorCode::kUpstreamFailed,
                  "source server refused access (" + std::to_string(status) + ")");
    }
    return Fail(ErrorCode::kUpstreamFailed, "source server answered " + std::to_string(status));
  }
}

}  // namespace imgorigin::sources
