#include "origin/replies.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <ctime>

#include "origin/http_status.h"

namespace imgorigin::origin {
namespace {

void ErrorHeaders(Exchange& exchange, int status, int64_t not_found_max_age) {
  if (status == 404 && not_found_max_age > 0) {
    exchange.AddHeader("Cache-Control", "public, max-age=" + std::to_string(not_found_max_age));
  } else {
    exchange.AddHeader("Cache-Control", "no-store");
  }
  if (status == 503) exchange.AddHeader("Retry-After", "1");
}

void LogServerError(const Exchange& exchange, int status, const common::Error& error) {
  if (status >= 500) {
    spdlog::warn("{} -> {} {} (request {})", exchange.path(), status, error.message,
                 exchange.request_id());
  }
}

bool BearerMatches(std::string_view header, std::string_view key) {
  constexpr std::string_view kScheme = "Bearer ";
  if (header.size() < kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), header.begin(),
                  [](char a, char b) { return tolower(a) == tolower(b); })) {
    return false;
  }
  std::string_view token = header.substr(kScheme.size());
  unsigned char diff = token.size() == key.size() ? 0 : 1;
  for (size_t i = 0; i < key.size(); ++i) {
    diff |= static_cast<unsigned char>(key[i] ^ (i < token.size() ? token[i] : 0));
  }
  return diff == 0;
}

}  // namespace

void ReplyError(Exchange& exchange, const common::Error& error, int64_t not_found_max_age) {
  const int status = HttpStatus(error.code);
  ErrorHeaders(exchange, status, not_found_max_age);
  LogServerError(exchange, status, error);
  exchange.SendText(status, error.message + "\nrequest id: " + exchange.request_id() + "\n");
}

void ReplyJson(Exchange& exchange, int status, const nlohmann::json& body) {
  exchange.AddHeader("Cache-Control", "no-store");
  exchange.AddHeader("Content-Type", "application/json");
  exchange.Send(status, common::MakeShared(body.dump() + "\n"));
}

void ReplyJsonError(Exchange& exchange, const common::Error& error) {
  const int status = HttpStatus(error.code);
  if (status == 503) exchange.AddHeader("Retry-After", "1");
  LogServerError(exchange, status, error);
  ReplyJson(exchange, status, {{"error", error.message}, {"request_id", exchange.request_id()}});
}

void ReplyMethodNotAllowed(Exchange& exchange, const char* allow) {
  exchange.AddHeader("Allow", allow);
  exchange.AddHeader("Cache-Control", "no-store");
  exchange.SendText(405, "method not allowed: use " + std::string(allow) + "\n");
}

std::optional<common::Error> ApiKeyError(const char* authorization, const std::string& api_key) {
  using common::ErrorCode;
  if (api_key.empty()) {
    return common::Error{ErrorCode::kNotFound,
                         "the /v1 API is disabled: set IMGORIGIN_API_KEY to enable it"};
  }
  if (authorization == nullptr || !BearerMatches(authorization, api_key)) {
    return common::Error{ErrorCode::kUnauthenticated,
                         "missing or wrong API key: send Authorization: Bearer <key>"};
  }
  return std::nullopt;
}

bool Authorize(Exchange& exchange, const std::string& api_key) {
  auto error = ApiKeyError(exchange.header("Authorization"), api_key);
  if (!error) return true;
  if (error->code == common::ErrorCode::kUnauthenticated) {
    exchange.AddHeader("WWW-Authenticate", "Bearer");
  }
  ReplyJsonError(exchange, *error);
  return false;
}

std::string HttpDate(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  tm utc{};
  gmtime_r(&t, &utc);
  char buf[64];
  strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return buf;
}

std::string FormatMs(double ms) {  // to_chars, as printf's float path costs on every hit
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, ms, std::chars_format::fixed, 1);
  return ec == std::errc() ? std::string(buf, end) : std::string("0.0");
}

std::optional<std::string> QueryParameter(std::string_view target, const char* name) {
  const size_t question = target.find('?');
  if (question == std::string_view::npos) return std::nullopt;
  evkeyvalq params{};  // initialised by evhttp_parse_query_str()
  std::optional<std::string> value;
  if (evhttp_parse_query_str(std::string(target.substr(question + 1)).c_str(), &params) == 0) {
    if (const char* found = evhttp_find_header(&params, name)) value = found;
  }
  evhttp_clear_headers(&params);
  return value;
}

}  // namespace imgorigin::origin
