#include "storage/curl_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <random>
#include <thread>

#include "common/fd.h"

namespace imgorigin::storage {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

constexpr size_t kMaxIdleHandles = 64;
constexpr size_t kErrorBodyBytes = 64 * 1024;

using Slist = common::Handle<curl_slist, curl_slist_free_all>;

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r' || text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

// Everything one exchange accumulates; libcurl's callbacks get a pointer to it.
struct Transfer {
  const HttpRequest* request = nullptr;
  const AddressPolicy* guard = nullptr;
  long status = 0;
  int64_t total = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string spill_path;  // unlinked unless handed over to the response
  common::UniqueFd fd;
  bool to_file = false;  // Content-Length says the body is over spill_bytes
  bool blocked = false;
  bool too_large = false;
  bool write_failed = false;

  ~Transfer() {
    if (!spill_path.empty()) ::unlink(spill_path.c_str());
  }
  bool Success() const { return status >= 200 && status < 300; }

  bool Spill(const char* data, size_t n) {
    if (!fd.valid()) {
      std::string path = request->spill_dir + "/imgorigin-src-XXXXXX";
      fd = common::UniqueFd(::mkostemp(path.data(), O_CLOEXEC));
      if (!fd.valid()) return false;
      spill_path = std::move(path);
      if (!common::WriteAll(fd.get(), body)) return false;
      std::string().swap(body);
    }
    return common::WriteAll(fd.get(), std::string_view(data, n));
  }
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    // A new response starts (only one per exchange: redirects are not followed here).
    size_t space = line.find(' ');
    t->status = 0;
    t->headers.clear();
    if (space != std::string_view::npos) {
      std::string_view code = line.substr(space + 1, 3);
      std::from_chars(code.data(), code.data() + code.size(), t->status);
    }
    return size * n;
  }
  if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    t->headers.emplace_back(std::move(name), std::string(Trim(line.substr(colon + 1))));
  }
  // A HEAD's Content-Length is the size of a body that never comes: no limit applies to it.
  if (StartsWithNoCase(line, "content-length:") && t->Success() && t->request->method != "HEAD") {
    std::string_view value = Trim(line.substr(15));
    int64_t length = 0;
    if (std::from_chars(value.data(), value.data() + value.size(), length).ec == std::errc()) {
      if (length > t->request->max_bytes) {
        t->too_large = true;
        return 0;  // abort before a byte of the body is read
      }
      if (length > t->request->spill_bytes) {
        t->to_file = true;  // straight to the file: not even the first spill_bytes in memory
      } else {
        t->body.reserve(static_cast<size_t>(length));
      }
    }
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  if (!t->Success()) {
    // Error bodies only need to be read far enough to tell S3's error code.
    t->body.append(data,
                   std::min(bytes, kErrorBodyBytes - std::min(kErrorBodyBytes, t->body.size())));
    return bytes;
  }
  t->total += static_cast<int64_t>(bytes);
  if (t->total > t->request->max_bytes) {
    t->too_large = true;
    return 0;
  }
  if (t->to_file || t->fd.valid() || t->total > t->request->spill_bytes) {
    if (!t->Spill(data, bytes)) {
      t->write_failed = true;
      return 0;
    }
  } else {
    t->body.append(data, bytes);
  }
  return bytes;
}

curl_socket_t OnOpenSocket(void* user, curlsocktype, curl_sockaddr* address) {
  auto* t = static_cast<Transfer*>(user);
  if (t->guard != nullptr && !t->guard->Allows(&address->addr)) {
    t->blocked = true;
    return CURL_SOCKET_BAD;
  }
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

bool TransientCurlError(CURLcode code) {
  return code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR || code == CURLE_GOT_NOTHING ||
         code == CURLE_PARTIAL_FILE;
}

bool InRange(const std::array<uint8_t, 16>& a, std::initializer_list<uint8_t> prefix, int bits) {
  std::array<uint8_t, 16> net{};
  std::copy(prefix.begin(), prefix.end(), net.begin());
  return Cidr{net, bits}.Contains(a);
}

bool IsNonPublicV4(uint8_t a, uint8_t b, uint8_t c) {
  return a == 0 ||                          // "this network", 0.0.0.0
         a == 10 ||                         // RFC 1918
         (a == 100 && (b & 0xc0) == 64) ||  // CGNAT 100.64/10
         a == 127 ||                        // loopback
         (a == 169 && b == 254) ||          // link-local, cloud metadata
         (a == 172 && (b & 0xf0) == 16) ||  // RFC 1918
         (a == 192 && b == 0 && c == 0) ||  // IETF protocol assignments
         (a == 192 && b == 168) ||          // RFC 1918
         (a == 198 && (b & 0xfe) == 18) ||  // benchmarking 198.18/15
         a >= 224;                          // multicast, reserved, broadcast
}

}  // namespace

Result<Cidr> Cidr::Parse(std::string_view text) {
  std::string_view host = text.substr(0, text.find('/'));
  int prefix = -1;
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    std::string_view bits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
    if (ec != std::errc() || end != bits.data() + bits.size()) prefix = 999;
  }
  Cidr cidr;
  std::string host_z(host);
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, host_z.c_str(), &v4) == 1) {
    if (prefix > 32)
      return Fail(ErrorCode::kInvalidArgument, "bad network \"" + std::string(text) + "\"");
    cidr.address[10] = cidr.address[11] = 0xff;
    std::memcpy(&cidr.address[12], &v4, 4);
    cidr.prefix = prefix < 0 ? 128 : 96 + prefix;
  } else if (inet_pton(AF_INET6, host_z.c_str(), &v6) == 1) {
    if (prefix > 128)
      return Fail(ErrorCode::kInvalidArgument, "bad network \"" + std::string(text) + "\"");
    std::memcpy(cidr.address.data(), &v6, 16);
    cidr.prefix = prefix < 0 ? 128 : prefix;
  } else {
    return Fail(ErrorCode::kInvalidArgument, "bad network \"" + std::string(text) + "\"");
  }
  return cidr;
}

bool Cidr::Contains(const std::array<uint8_t, 16>& other) const {
  int bits = prefix;
  for (size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((address[i] & mask) != (other[i] & mask)) return false;
  }
  return true;
}

std::optional<std::array<uint8_t, 16>> AddressBytes(const sockaddr* address) {
  std::array<uint8_t, 16> out{};
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    out[10] = out[11] = 0xff;
    std::memcpy(&out[12], &in->sin_addr, 4);
    return out;
  }
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    std::memcpy(out.data(), &in6->sin6_addr, 16);
    return out;
  }
  return std::nullopt;
}

bool IsNonPublicAddress(const std::array<uint8_t, 16>& a) {
  // IPv4 carried in IPv6: mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d.
  // The kernel (or a NAT64 gateway) delivers these to the IPv4 address, so that is what counts.
  if (InRange(a, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96) ||
      InRange(a, {0, 0x64, 0xff, 0x9b}, 96) || (InRange(a, {}, 96) && (a[12] | a[13]) != 0)) {
    return IsNonPublicV4(a[12], a[13], a[14]);
  }
  static const std::array<uint8_t, 16> kLoopback = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return InRange(a, {}, 96) ||                        // ::, ::1 and the rest of ::/96
         a == kLoopback || InRange(a, {0xfc}, 7) ||   // unique-local fc00::/7
         InRange(a, {0xfe, 0x80}, 10) ||              // link-local fe80::/10
         InRange(a, {0xfe, 0xc0}, 10) ||              // deprecated site-local fec0::/10
         InRange(a, {0xff}, 8) ||                     // multicast
         InRange(a, {0x20, 0x01, 0x0d, 0xb8}, 32) ||  // documentation
         InRange(a, {0x01, 0x00}, 64) ||              // discard-only 100::/64
         InRange(a, {0x20, 0x02}, 16);  // 6to4 can tunnel to any IPv4, private included
}

bool AddressPolicy::Allows(const sockaddr* address) const {
  if (allow_private) return true;
  auto bytes = AddressBytes(address);
  if (!bytes) return false;
  for (const auto& net : allowed) {
    if (net.Contains(*bytes)) return true;
  }
  return !IsNonPublicAddress(*bytes);
}

std::string_view HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return {};
}

bool IsRetryableStatus(long status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

std::string UriEncode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

struct CurlClient::Attempt {
  Result<HttpResponse> result;
  bool transient = false;  // a dropped connection: worth another attempt
};

CurlClient::CurlClient(std::optional<AddressPolicy> guard) : guard_(std::move(guard)) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

CurlClient::~CurlClient() = default;

CurlClient::Handle CurlClient::Acquire() const {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      Handle handle = std::move(idle_.back());
      idle_.pop_back();
      // Reset forgets the previous request's options but keeps the handle's open connections.
      curl_easy_reset(handle.get());
      return handle;
    }
  }
  return Handle(curl_easy_init());
}

void CurlClient::Release(Handle handle) const {
  std::lock_guard lock(mu_);
  if (idle_.size() < kMaxIdleHandles) idle_.push_back(std::move(handle));
}

CurlClient::Attempt CurlClient::PerformOnce(const HttpRequest& request) const {
  Handle handle = Acquire();
  CURL* curl = handle.get();
  if (curl == nullptr) return {Fail(ErrorCode::kInternal, "out of memory")};
  Transfer t;
  t.request = &request;
  t.guard = guard_ ? &*guard_ : nullptr;
  Slist headers;
  for (const auto& h : request.headers)
    headers.reset(curl_slist_append(headers.release(), h.c_str()));

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  // Callers check the URL they pass (HTTP allow-lists, the S3 bucket), so that URL must be what
  // goes out: by default libcurl resolves "." and ".." segments first, and the path-style
  // "/allowed/../other/k" would become a request (signed, too) for bucket "other".
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_FILETIME, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "imgorigin");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(request.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (request.method == "PUT" || request.method == "POST") {
    // POSTFIELDS sends the body, held in memory, with the custom method.
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    // Never null: a null POSTFIELDS would make libcurl read the body from stdin.
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.empty() ? "" : request.body.data());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, OnOpenSocket);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &t);
  if (guard_) curl_easy_setopt(curl, CURLOPT_PROXY, "");

  CURLcode code = curl_easy_perform(curl);
  Attempt attempt{HttpResponse{}};
  if (code != CURLE_OK) {
    const std::string& what = request.what;
    ErrorCode error = ErrorCode::kUpstreamFailed;
    std::string message;
    if (t.too_large) {
      error = ErrorCode::kTooLarge;
      message = what + " is over the limit of " + std::to_string(request.max_bytes) + " bytes";
    } else if (t.blocked) {
      error = ErrorCode::kPermissionDenied;
      message = what +
                " address is not allowed (loopback, private, link-local or metadata "
                "network)";
    } else if (t.write_failed) {
      error = ErrorCode::kInternal;
      message = "cannot store the " + what + " in a temporary file";
    } else if (code == CURLE_OPERATION_TIMEDOUT) {
      error = ErrorCode::kDeadlineExceeded;
      message = what + " did not answer within " + std::to_string(request.timeout.count()) + " ms";
    } else if (code == CURLE_COULDNT_RESOLVE_HOST) {
      message = what + " host could not be resolved";
    } else if (code == CURLE_COULDNT_CONNECT) {
      message = what + " refused the connection or is unreachable";
    } else {
      message = what + " transfer failed (" + curl_easy_strerror(code) + ")";
    }
    spdlog::debug("{} {}: {}", request.method, request.url, curl_easy_strerror(code));
    attempt.result = Fail(error, std::move(message));
    attempt.transient = !t.too_large && !t.write_failed && TransientCurlError(code);
    // A handle whose transfer was cut short is still reusable; its half-read connection is not
    // kept by libcurl.
    Release(std::move(handle));
    return attempt;
  }
  HttpResponse& response = *attempt.result;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_off_t filetime = -1;
  if (curl_easy_getinfo(curl, CURLINFO_FILETIME_T, &filetime) == CURLE_OK && filetime > 0) {
    response.last_modified = static_cast<int64_t>(filetime);
  }
  char* location = nullptr;
  if (curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &location) == CURLE_OK && location) {
    response.redirect_url = location;
  }
  if (!t.spill_path.empty()) {
    t.fd = common::UniqueFd();
    response.file = std::make_shared<const SpilledFile>(std::exchange(t.spill_path, {}), t.total);
  } else {
    response.body = std::move(t.body);
  }
  response.headers = std::move(t.headers);
  Release(std::move(handle));
  return attempt;
}

Result<HttpResponse> CurlClient::Perform(const HttpRequest& request) const {
  return PerformOnce(request).result;
}

Result<HttpResponse> CurlClient::PerformWithRetry(const HttpRequest& request,
                                                  const RetryPolicy& retry) const {
  thread_local std::mt19937 random{std::random_device{}()};
  for (int attempt = 0;; ++attempt) {
    Attempt result = PerformOnce(request);
    bool again = result.result ? IsRetryableStatus(result.result->status) : result.transient;
    if (!again || attempt >= retry.retries) return std::move(result.result);
    // "Equal jitter": half the exponential delay is fixed, half random, so retries from many
    // requests that failed together spread out without collapsing to zero delay.
    auto delay = std::min(retry.max_backoff, retry.backoff * (1 << std::min(attempt, 16)));
    std::uniform_int_distribution<int64_t> jitter(0, delay.count() / 2);
    auto sleep = std::chrono::milliseconds(delay.count() / 2 + jitter(random));
    spdlog::info(
        "{} {} answered {}; retrying in {} ms", request.method, request.what,
        result.result ? std::to_string(result.result->status) : result.result.error().message,
        sleep.count());
    std::this_thread::sleep_for(sleep);
  }
}

}  // namespace imgorigin::storage
