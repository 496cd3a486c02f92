// Error codes and the Result type shared by every module.
//
// A module reports failure as an Error: a code that maps to one HTTP status at the origin
// boundary, and a message meant for the person who wrote the URL (never internal paths, keys or
// library text). Values only; safe to use from any thread.
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace imgorigin::common {

enum class ErrorCode {
  kBadRequest,        // 400: malformed URL, unknown option, bad argument
  kForbidden,         // 403: missing, wrong or expired signature
  kNotFound,          // 404: source does not exist
  kTooLarge,          // 413: source bytes or pixels over the configured limit
  kUnsupportedMedia,  // 415: not an image format we read
  kUnprocessable,     // 422: an image we recognise but cannot decode or process
  kOverloaded,        // 503: transform queue full (sent with Retry-After)
  kBadGateway,        // 502: upstream refused or answered garbage
  kGatewayTimeout,    // 504: upstream or processing took too long
  kInternal,          // 500: a bug or an unexpected environment failure
};

struct Error {
  ErrorCode code;
  std::string message;
};

template <typename T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return std::unexpected(Error{code, std::move(message)});
}

// The HTTP status code the origin answers with for `code`.
int HttpStatus(ErrorCode code);

}  // namespace imgorigin::common
