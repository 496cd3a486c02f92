// A blocking HTTP client over libcurl for everything the origin fetches from the network: S3
// objects, HTTP(S) originals and the AWS credential endpoints.
//
// One request per Perform(), sent to exactly the URL given (no dot-segment removal), with
// connect and total timeouts, a byte cap enforced while the body streams (kTooLarge as soon as it
// is crossed, not after the download), large bodies streamed to a temporary file, an optional
// guard on the address actually connected to (checked by libcurl's open-socket hook, so DNS
// tricks and redirects cannot dodge it), and PerformWithRetry() for 5xx/throttling answers with
// jittered exponential backoff.
//
// Each CurlClient keeps its own pool of idle easy handles: connections and TLS sessions are
// reused across requests from any thread, and a connection opened by one client (say, S3 to a
// private endpoint) is never reused by another with a stricter guard. Perform() blocks: call it
// from an I/O pool thread, never from an event loop. Every method is thread-safe.
#pragma once

#include <curl/curl.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/handle.h"
#include "common/status.h"
#include "storage/spilled_file.h"

namespace imgorigin::storage {

// An IPv4 or IPv6 network such as "10.0.0.0/8" or "fd00::/8". IPv4 networks are stored as
// IPv4-mapped IPv6 so one comparison covers both families.
struct Cidr {
  std::array<uint8_t, 16> address{};
  int prefix = 0;  // in bits of the 16-byte form

  // "a.b.c.d[/n]" or "v6[/n]"; a bare address is a single host.
  static common::Result<Cidr> Parse(std::string_view text);
  bool Contains(const std::array<uint8_t, 16>& address) const;
};

// The 16-byte (IPv4-mapped for IPv4) form of a socket address; nullopt for other families.
std::optional<std::array<uint8_t, 16>> AddressBytes(const sockaddr* address);

// True for addresses an origin must not fetch from on behalf of a URL: unspecified, loopback,
// private (RFC 1918, CGNAT, unique-local), link-local (including 169.254.169.254, the cloud
// metadata service), multicast, reserved and benchmark ranges. IPv4 embedded in IPv6 (mapped,
// compatible, NAT64) is judged by its IPv4 address.
bool IsNonPublicAddress(const std::array<uint8_t, 16>& address);

// Which connections a guarded client may open.
struct AddressPolicy {
  bool allow_private = false;  // true turns the guard off
  std::vector<Cidr> allowed;   // networks reachable even when they are not public

  bool Allows(const sockaddr* address) const;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // Sent as the request body (PUT, POST). Not owned: it must outlive the Perform() call.
  std::string_view body;
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds timeout{30000};                 // whole exchange, body included
  int64_t max_bytes = std::numeric_limits<int64_t>::max();  // larger 2xx bodies fail with kTooLarge
  // 2xx bodies larger than this are streamed to a file in spill_dir instead of memory.
  int64_t spill_bytes = std::numeric_limits<int64_t>::max();
  std::string spill_dir = "/tmp";
  std::string what = "upstream";  // names the upstream in error messages ("S3", "source")
};

struct HttpResponse {
  long status = 0;
  std::string body;                         // 2xx: the body unless spilled; else its first 64 KiB
  std::shared_ptr<const SpilledFile> file;  // 2xx bodies larger than spill_bytes
  std::string redirect_url;                 // absolute target of a 3xx with a Location
  int64_t last_modified = 0;                // unix seconds from Last-Modified; 0 = none
  // Every header of the final response, names lowercased, values trimmed, in arrival order.
  std::vector<std::pair<std::string, std::string>> headers;
  int64_t size() const { return file ? file->size() : static_cast<int64_t>(body.size()); }
  // The first value of header `name` (lowercase), or "" when it is absent.
  std::string_view header(std::string_view name) const;
};

struct RetryPolicy {
  int retries = 2;                         // attempts after the first
  std::chrono::milliseconds backoff{100};  // first delay; doubles per attempt, then jittered
  std::chrono::milliseconds max_backoff{2000};
};

class CurlClient {
 public:
  // `guard` set: every connection is checked against it before connecting, and environment
  // proxies are ignored (the guard must see the real destination).
  explicit CurlClient(std::optional<AddressPolicy> guard = std::nullopt);
  ~CurlClient();
  CurlClient(const CurlClient&) = delete;
  CurlClient& operator=(const CurlClient&) = delete;

  // One exchange, redirects not followed. Any HTTP status is a response; transport failures are
  // Errors: timeout → kDeadlineExceeded, refused/unreachable → kUpstreamFailed, address refused by
  // the guard → kPermissionDenied, body over max_bytes → kTooLarge.
  common::Result<HttpResponse> Perform(const HttpRequest& request) const;

  // Perform(), repeated after 429/500/502/503/504 answers and dropped connections, sleeping
  // between attempts. The last answer is returned as it came.
  common::Result<HttpResponse> PerformWithRetry(const HttpRequest& request,
                                                const RetryPolicy& retry) const;

 private:
  using Handle = common::Handle<CURL, curl_easy_cleanup>;
  struct Attempt;

  Attempt PerformOnce(const HttpRequest& request) const;
  Handle Acquire() const;
  void Release(Handle handle) const;

  std::optional<AddressPolicy> guard_;
  mutable std::mutex mu_;
  mutable std::vector<Handle> idle_;
};

// Whether an HTTP status is worth another attempt (5xx and throttling).
bool IsRetryableStatus(long status);

// RFC 3986 percent-encoding of everything but unreserved characters; "/" too unless keep_slash.
std::string UriEncode(std::string_view text, bool keep_slash);

}  // namespace imgorigin::storage
