// The request heads the server reads itself instead of through evhttp (Server, "direct
// requests"): the plain GET or HEAD a browser or a CDN sends for an image. Anything else, or
// anything in doubt, is left to evhttp, which reads it as before: this reader only ever says
// "this is one" or "not mine", never "bad request".
#pragma once

#include <event2/http.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imgorigin::origin {

// RFC 9110 §5.6.2 token: what a header name (and a method) must be.
bool IsToken(std::string_view name);

struct RequestHead {
  evhttp_cmd_type method = EVHTTP_REQ_GET;
  // The head's bytes, with a NUL written after the target, each header name and each value, so
  // that target and headers point into it as C strings.
  std::string bytes;
  const char* target = nullptr;
  std::vector<std::pair<const char*, const char*>> headers;  // name, value (trimmed)

  // The first header called `name` (any case), as evhttp_find_header() finds it; nullptr if none.
  const char* Find(const char* name) const;
};

// Reads one head from the front of `input`. Returns its length in bytes (what to drain) with
// `head` filled in, or 0 when `input` does not start with a whole head this reader takes:
//   "GET" or "HEAD", one space, an origin-form target of visible ASCII, one space, "HTTP/1.1",
//   CRLF; header lines "token:" value CRLF (no folding, no control characters but tab, no bare
//   LF); an empty line; at most `max_size` bytes in all;
//   no Content-Length, Transfer-Encoding, Expect or Upgrade, at most one Host, and no Connection
//   option but keep-alive (a request that closes its connection goes through evhttp).
size_t ReadRequestHead(std::string_view input, size_t max_size, RequestHead& head);

}  // namespace imgorigin::origin
