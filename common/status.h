// Error codes and the Result type shared by every module.
//
// A module reports failure as an Error: a code in domain terms (what went wrong, not how a
// protocol says it; origin/ maps codes to HTTP statuses in one place) and a message meant for the
// person who made the request (never internal paths, keys or library text). Values only; safe to
// use from any thread.
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace imgorigin::common {

enum class ErrorCode {
  kInvalidArgument,   // malformed URL or body, unknown option, bad argument
  kUnauthenticated,   // no credentials, or credentials that are not recognised (API key)
  kPermissionDenied,  // missing, wrong or expired signature; address or bucket not allowed
  kNotFound,          // the source or record does not exist
  kConflict,          // the request contradicts the current state (idempotency key reused)
  kTooLarge,          // bytes or pixels over the configured limit
  kUnsupported,       // not an image format we read, or an output we cannot write
  kInvalidImage,      // an image we recognise but cannot decode or process
  kOverloaded,        // the work queue or memory budget is full: retry later
  kUnavailable,       // a service we depend on (record store, queue, cache) is down: retry later
  kUpstreamFailed,    // the server holding a source refused it or answered garbage
  kDeadlineExceeded,  // a dependency or the processing took too long
  kInternal,          // a bug or an unexpected environment failure
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

}  // namespace imgorigin::common
