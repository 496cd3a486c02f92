// The one mapping from domain error codes (common/status.h) to HTTP statuses. Nothing below
// origin/ knows about HTTP; every endpoint answers an Error through this function.
#pragma once

#include "common/status.h"

namespace imgorigin::origin {

// The HTTP status the origin answers with for `code`.
constexpr int HttpStatus(common::ErrorCode code) {
  using common::ErrorCode;
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kTooLarge:
      return 413;
    case ErrorCode::kUnsupported:
      return 415;
    case ErrorCode::kInvalidImage:
      return 422;
    case ErrorCode::kOverloaded:
      return 503;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kUpstreamFailed:
      return 502;
    case ErrorCode::kDeadlineExceeded:
      return 504;
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

}  // namespace imgorigin::origin
