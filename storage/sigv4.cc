#include "storage/sigv4.h"

#include <algorithm>
#include <cctype>
#include <ctime>

#include "storage/curl_client.h"
#include "storage/digest.h"

namespace imgorigin::storage {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

using Pairs = std::vector<std::pair<std::string, std::string>>;

constexpr char kAlgorithm[] = "AWS4-HMAC-SHA256";
constexpr char kUnsignedPayload[] = "UNSIGNED-PAYLOAD";

std::string Hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string AmzDate(std::chrono::system_clock::time_point when) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  size_t n = std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &tm);
  return std::string(text, n);
}

// SigV4's header value form: trimmed, runs of spaces collapsed to one.
std::string CanonicalHeaderValue(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

bool IsTokenChar(unsigned char c) {
  return std::isalnum(c) ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// The parts of a URL the canonical request is made of.
struct SplitUrl {
  std::string base;  // scheme://authority/path: the URL without its query
  std::string path;  // "/" at least, as sent
  std::string host;  // the Host header an HTTP client sends for it
  Pairs query;       // name=value pairs as written (already encoded)
};

Result<SplitUrl> Split(std::string_view url) {
  auto bad = [](std::string what) { return Fail(ErrorCode::kInvalidArgument, std::move(what)); };
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return bad("not an absolute URL");
  std::string_view scheme = url.substr(0, scheme_end);
  size_t authority_start = scheme_end + 3;
  size_t path_start = url.find_first_of("/?", authority_start);
  if (path_start == std::string_view::npos) path_start = url.size();
  SplitUrl split;
  split.host = url.substr(authority_start, path_start - authority_start);
  if (split.host.empty()) return bad("the URL has no host");
  // An HTTP client leaves the scheme's default port out of its Host header, and Host is signed.
  if ((scheme == "http" && split.host.ends_with(":80")) ||
      (scheme == "https" && split.host.ends_with(":443"))) {
    split.host.erase(split.host.rfind(':'));
  }
  size_t query_start = url.find('?', path_start);
  split.base = url.substr(0, query_start);
  split.path = url.substr(path_start, std::min(query_start, url.size()) - path_start);
  if (split.path.empty()) split.path = "/";
  if (query_start != std::string_view::npos) {
    std::string_view rest = url.substr(query_start + 1);
    while (!rest.empty()) {
      std::string_view part = rest.substr(0, rest.find('&'));
      rest.remove_prefix(std::min(rest.size(), part.size() + 1));
      if (part.empty()) continue;
      size_t eq = part.find('=');
      split.query.emplace_back(
          std::string(part.substr(0, eq)),
          eq == std::string_view::npos ? "" : std::string(part.substr(eq + 1)));
    }
  }
  return split;
}

// Sorted by encoded name, then value (bytewise), joined with "&".
std::string CanonicalQuery(Pairs query) {
  std::sort(query.begin(), query.end());
  std::string out;
  for (const auto& [name, value] : query) {
    if (!out.empty()) out += '&';
    out += name + "=" + value;
  }
  return out;
}

struct SignedHeaders {
  std::string canonical;  // "name:value\n" per header
  std::string names;      // "name;name"
};

// Host plus `headers`, lowercase names sorted; a header named twice or not sendable is refused.
Result<SignedHeaders> Canonicalize(const std::string& host, const Pairs& headers) {
  Pairs all = {{"host", host}};
  for (const auto& [name, value] : headers) {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (lower.empty() || lower == "host" ||
        !std::all_of(lower.begin(), lower.end(), [](unsigned char c) { return IsTokenChar(c); }) ||
        value.find_first_of("\r\n") != std::string::npos) {
      return Fail(ErrorCode::kInvalidArgument, "header \"" + name + "\" cannot be signed");
    }
    all.emplace_back(std::move(lower), CanonicalHeaderValue(value));
  }
  // By name only: "x-amz-server-side-encryption" sorts before "…-aws-kms-key-id".
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  SignedHeaders out;
  for (size_t i = 0; i < all.size(); ++i) {
    if (i > 0 && all[i].first == all[i - 1].first) {
      return Fail(ErrorCode::kInvalidArgument, "header \"" + all[i].first + "\" is given twice");
    }
    out.canonical += all[i].first + ":" + all[i].second + "\n";
    if (i > 0) out.names += ';';
    out.names += all[i].first;
  }
  return out;
}

// The credential scope: date/region/service/aws4_request.
struct Scope {
  std::string_view region;
  std::string_view service;

  std::string For(std::string_view amz_date) const {
    return std::string(amz_date.substr(0, 8)) + "/" + std::string(region) + "/" +
           std::string(service) + "/aws4_request";
  }
};

// The hex signature of `canonical_request`.
std::string Signature(const std::string& canonical_request, std::string_view amz_date,
                      const Scope& scope, const AwsCredentials& credentials) {
  const std::string string_to_sign = std::string(kAlgorithm) + "\n" + std::string(amz_date) + "\n" +
                                     scope.For(amz_date) + "\n" + Sha256Hex(canonical_request);
  std::string key = "AWS4" + credentials.secret_access_key;
  for (std::string_view part :
       {amz_date.substr(0, 8), scope.region, scope.service, std::string_view("aws4_request")}) {
    key = HmacSha256(key, part);
  }
  return Hex(HmacSha256(key, string_to_sign));
}

Result<void> CheckCredentials(const AwsCredentials& credentials, const Scope& scope) {
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty() ||
      scope.region.empty() || scope.service.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "SigV4 signing needs credentials and a region");
  }
  return {};
}

// Signs with the Authorization header; S3 alone also wants the payload hash as a header.
Result<void> SignHeaders(const Scope& scope, bool payload_hash_header, std::string_view method,
                         std::string_view url, std::vector<std::string>& headers,
                         std::string_view payload_sha256, const AwsCredentials& credentials,
                         std::chrono::system_clock::time_point now) {
  if (auto r = CheckCredentials(credentials, scope); !r) return std::unexpected(r.error());
  auto split = Split(url);
  if (!split) return std::unexpected(split.error());
  const std::string amz_date = AmzDate(now);
  std::vector<std::string> added = {"X-Amz-Date: " + amz_date};
  if (payload_hash_header) {
    added.push_back("x-amz-content-sha256: " + std::string(payload_sha256));
  }
  if (!credentials.session_token.empty()) {
    added.push_back("X-Amz-Security-Token: " + credentials.session_token);
  }
  Pairs pairs;
  for (const std::vector<std::string>* list : {&headers, &added}) {
    for (const std::string& line : *list) {
      size_t colon = line.find(':');
      if (colon == std::string::npos) {
        return Fail(ErrorCode::kInvalidArgument, "header line \"" + line + "\" has no name");
      }
      pairs.emplace_back(line.substr(0, colon), line.substr(colon + 1));
    }
  }
  auto signed_headers = Canonicalize(split->host, pairs);
  if (!signed_headers) return std::unexpected(signed_headers.error());
  const std::string canonical_request = std::string(method) + "\n" + split->path + "\n" +
                                        CanonicalQuery(std::move(split->query)) + "\n" +
                                        signed_headers->canonical + "\n" + signed_headers->names +
                                        "\n" + std::string(payload_sha256);
  headers.insert(headers.end(), added.begin(), added.end());
  headers.push_back(std::string("Authorization: ") + kAlgorithm +
                    " Credential=" + credentials.access_key_id + "/" + scope.For(amz_date) +
                    ", SignedHeaders=" + signed_headers->names +
                    ", Signature=" + Signature(canonical_request, amz_date, scope, credentials));
  return {};
}

}  // namespace

Result<std::string> PresignS3Url(const PresignParams& params, const AwsCredentials& credentials,
                                 std::string_view region) {
  auto bad = [](std::string what) { return Fail(ErrorCode::kInvalidArgument, std::move(what)); };
  const std::string& method = params.method;
  if (method != "GET" && method != "PUT" && method != "HEAD" && method != "DELETE") {
    return bad("a presigned S3 URL is for GET, PUT, HEAD or DELETE, not \"" + method + "\"");
  }
  if (params.expires < kMinPresignExpiry || params.expires > kMaxPresignExpiry) {
    return bad("a presigned S3 URL must expire within 1 second to 7 days, not " +
               std::to_string(params.expires.count()) + " s");
  }
  const Scope scope{region, "s3"};
  if (auto r = CheckCredentials(credentials, scope); !r) return std::unexpected(r.error());
  auto url = Split(params.url);
  if (!url) return std::unexpected(url.error());
  auto headers = Canonicalize(url->host, params.headers);
  if (!headers) return std::unexpected(headers.error());

  const std::string amz_date = AmzDate(params.now);
  // The URL's own parameters (versionId …) are already encoded; these are encoded here.
  Pairs query = std::move(url->query);
  query.emplace_back("X-Amz-Algorithm", kAlgorithm);
  query.emplace_back("X-Amz-Credential",
                     UriEncode(credentials.access_key_id + "/" + scope.For(amz_date), false));
  query.emplace_back("X-Amz-Date", amz_date);
  query.emplace_back("X-Amz-Expires", std::to_string(params.expires.count()));
  query.emplace_back("X-Amz-SignedHeaders", UriEncode(headers->names, false));
  if (!credentials.session_token.empty()) {
    query.emplace_back("X-Amz-Security-Token", UriEncode(credentials.session_token, false));
  }
  const std::string canonical_query = CanonicalQuery(std::move(query));
  const std::string canonical_request = method + "\n" + url->path + "\n" + canonical_query + "\n" +
                                        headers->canonical + "\n" + headers->names + "\n" +
                                        kUnsignedPayload;
  return url->base + "?" + canonical_query +
         "&X-Amz-Signature=" + Signature(canonical_request, amz_date, scope, credentials);
}

Result<void> SignS3Request(std::string_view method, std::string_view url,
                           std::vector<std::string>& headers, std::string_view payload_sha256,
                           const AwsCredentials& credentials, std::string_view region,
                           std::chrono::system_clock::time_point now) {
  return SignHeaders(Scope{region, "s3"}, /*payload_hash_header=*/true, method, url, headers,
                     payload_sha256, credentials, now);
}

Result<void> SignAwsRequest(std::string_view service, std::string_view method, std::string_view url,
                            std::vector<std::string>& headers, std::string_view payload_sha256,
                            const AwsCredentials& credentials, std::string_view region,
                            std::chrono::system_clock::time_point now) {
  return SignHeaders(Scope{region, service}, /*payload_hash_header=*/false, method, url, headers,
                     payload_sha256, credentials, now);
}

}  // namespace imgorigin::storage
