#include "common/status.h"

namespace imgorigin::common {

int HttpStatus(ErrorCode code) {
  switch (code) {
    case ErrorCode::kBadRequest: return 400;
    case ErrorCode::kForbidden: return 403;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kTooLarge: return 413;
    case ErrorCode::kUnsupportedMedia: return 415;
    case ErrorCode::kUnprocessable: return 422;
    case ErrorCode::kOverloaded: return 503;
    case ErrorCode::kBadGateway: return 502;
    case ErrorCode::kGatewayTimeout: return 504;
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

}  // namespace imgorigin::common
