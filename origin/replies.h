// Answers every endpoint shares: errors (the one place where a common::Error becomes an HTTP
// status, through HttpStatus()), JSON bodies, the /v1 API key check, and header formatting.
// Called on the event loop that owns the exchange.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "origin/server.h"

namespace imgorigin::origin {

// A short text error with the request id. Cache-Control: no-store, except a 404 which a CDN may
// keep for `not_found_max_age` seconds (0 = no-store too); 503 carries Retry-After.
void ReplyError(Exchange& exchange, const common::Error& error, int64_t not_found_max_age = 0);
// The same for the JSON API (/v1): {"error": …, "request_id": …}.
void ReplyJsonError(Exchange& exchange, const common::Error& error);
void ReplyJson(Exchange& exchange, int status, const nlohmann::json& body);
// 405 with an Allow header.
void ReplyMethodNotAllowed(Exchange& exchange, const char* allow);

// The /v1 API key check: true when the request carries "Authorization: Bearer <api_key>".
// Otherwise answers (404 while the API is disabled, 401 for a missing or wrong key) and returns
// false. The key is compared in constant time, so it cannot be guessed byte by byte.
bool Authorize(Exchange& exchange, const std::string& api_key);
// The same check where there is no exchange to answer yet (an upload's head): the Error
// Authorize() would answer, or nullopt when `authorization` (the header's value, null when
// absent) carries the key.
std::optional<common::Error> ApiKeyError(const char* authorization, const std::string& api_key);

// The value of query parameter `name` in a request target ("/path?a=1&b=2"), or nullopt.
std::optional<std::string> QueryParameter(std::string_view target, const char* name);

// The Content-Security-Policy of every SVG answer: an SVG opened directly must not run scripts
// or load anything.
inline constexpr char kSvgContentSecurityPolicy[] =
    "default-src 'none'; style-src 'unsafe-inline'; sandbox";

std::string HttpDate(int64_t unix_seconds);
// Milliseconds with one decimal, for Server-Timing.
std::string FormatMs(double ms);

}  // namespace imgorigin::origin
