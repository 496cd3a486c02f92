// Test harness for integration tests: runs the real imgorigin binary as a child process on a
// port the OS picks, talks to it over HTTP with libcurl, and inspects images with libvips.
// Used from test threads only; HttpRequest may be called from several threads at once.
#pragma once

#include <curl/curl.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <vips/vips8>

#include "common/fd.h"
#include "common/handle.h"

namespace imgorigin::testing {

using CurlPtr = common::Handle<CURL, curl_easy_cleanup>;
using SlistPtr = common::Handle<curl_slist, curl_slist_free_all>;

// The dev key and salt of conf/dev.toml, used by the tests too.
inline constexpr char kKeyHex[] = "696d676f726967696e2d6465762d6b6579";
inline constexpr char kSaltHex[] = "696d676f726967696e2d6465762d73616c74";

struct CaseLess {
  bool operator()(const std::string& a, const std::string& b) const;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string, CaseLess> headers;
  std::string body;
  std::string header(const std::string& name) const;  // "" when absent
};

// `body` is sent with POST and PUT (libcurl adds Expect: 100-continue for large ones, as curl
// users' requests do).
HttpResponse HttpRequest(uint16_t port, const std::string& target,
                         const std::vector<std::string>& headers = {},
                         const std::string& method = "GET", const std::string& body = "");

// One loopback client connection that writes exactly the bytes given and reads whatever comes
// back: for requests a client library would not send.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port);

  bool connected() const { return connected_; }

  bool Send(std::string_view bytes);
  // Writes as much of `bytes` as the server reads, stopping early once it has answered or closed
  // (a refused body is not pushed through). False when it stopped early.
  bool SendUnlessAnswered(std::string_view bytes);

  // Reads until `until` has arrived `times` times in all, the server closes, or `limit` passes;
  // returns everything read so far.
  const std::string& ReadUntil(std::string_view until, std::chrono::milliseconds limit,
                               int times = 1);
  // True when the server closed the connection within `limit`.
  bool WaitClosed(std::chrono::milliseconds limit);
  // Makes closing send a reset instead of an orderly FIN.
  void ResetOnClose();

  bool closed() const { return closed_; }
  const std::string& received() const { return received_; }

 private:
  int Count(std::string_view needle) const;
  void ReadFor(std::chrono::steady_clock::time_point deadline);

  common::UniqueFd fd_;
  bool connected_ = false;
  bool closed_ = false;
  std::string received_;
};

class OriginProcess {
 public:
  // Starts `imgorigin <args…>` with exactly `env` (plus PATH, HOME, TMPDIR and the sanitizers'
  // ASAN/UBSAN/LSAN_OPTIONS) and waits for its "listening on" line (`worker`: its "running"
  // line; port() stays 0). If the process exits
  // instead, started() is false and exit_status() and output() tell why. Destroying a started
  // process stops it and fails the test unless it exits with status 0.
  OriginProcess(const std::map<std::string, std::string>& env,
                const std::vector<std::string>& args = {"serve"});
  ~OriginProcess();
  OriginProcess(const OriginProcess&) = delete;
  OriginProcess& operator=(const OriginProcess&) = delete;

  bool started() const { return started_; }
  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

  // Sends SIGTERM and waits (bounded) for the exit; returns the exit status (-1 if killed).
  int Stop();
  int exit_status() const { return exit_status_; }
  const std::string& output() const { return output_; }  // stdout seen so far
  // Reads stdout until the process closes it (after Stop(): everything it wrote) or `limit`
  // passes; returns all of stdout.
  const std::string& DrainOutput(std::chrono::milliseconds limit = std::chrono::seconds(10));

  HttpResponse Get(const std::string& target, const std::vector<std::string>& headers = {}) const {
    return HttpRequest(port_, target, headers);
  }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  uint16_t port_ = 0;
  bool started_ = false;
  int exit_status_ = -1;
  bool exited_ = false;
  std::string output_;
};

// Runs the binary with `args`, returns its exit status and fills `out` with stdout+stderr (or
// stdout only, and stderr to `err` when given). A run past `limit` is killed (status -1).
int RunBinary(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
              std::string* out, std::chrono::seconds limit = std::chrono::seconds(20),
              std::string* err = nullptr);

// Starts the binary with `args` and returns its pid; `*out_fd` reads its stdout (stderr too when
// `merge_stderr`). The caller reads, kills and reaps it.
pid_t SpawnBinary(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                  int* out_fd, bool merge_stderr);

// Signs `path` with the dev key and salt: "/<signature><path>".
std::string Signed(const std::string& path);

// A fresh directory under the test temp dir; removed by the OS test cleanup, not by us.
std::string MakeTempDir();

// A loopback TCP port that was free a moment ago (for servers that cannot bind port 0).
uint16_t FreeLoopbackPort();

// Decodes an image from bytes (throws vips::VError on garbage; tests expect valid images).
vips::VImage Decode(const std::string& bytes);

// The libvips loader that recognises `bytes` ("jpegload", "pngload", …) or "".
std::string LoaderOf(const std::string& bytes);

// Mean absolute difference per band value between two images of the same size, after both are
// flattened to sRGB 3-band uchar: 0 = identical, 255 = opposite.
double MeanAbsDiff(const vips::VImage& a, const vips::VImage& b);

// The value of the metric line "name value" in a /metrics body; -1 if absent.
double Metric(const std::string& metrics_body, const std::string& name_and_labels);

// True under CI (CI=true): a missing test dependency must then fail the test, never skip it.
bool InCi();

// A throwaway server process (redis-server, memcached) on a free loopback port, without any
// persistence; killed on destruction. If the binary is missing or never answers, started() is
// false and error() says why (see IMGORIGIN_REQUIRE_SERVICE).
class ServiceProcess {
 public:
  ~ServiceProcess();
  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;

  bool started() const { return pid_ > 0; }
  uint16_t port() const { return port_; }
  const std::string& error() const { return error_; }
  // SIGKILL and reap: an outage, not a shutdown.
  void Kill();
  // Sends `request` on a fresh connection and returns what arrives until `until` is seen (or
  // the connection closes, or 5 s pass).
  std::string Talk(const std::string& request, const std::string& until) const;

 protected:
  ServiceProcess() = default;
  // Starts `binary` with the arguments `make_args(port)` gives, retrying on a port race, and
  // waits until `probe` is answered with `expect`.
  void Start(const std::string& binary,
             const std::function<std::vector<std::string>(uint16_t port)>& make_args,
             const std::string& probe, const std::string& expect);

  uint16_t want_port_ = 0;  // Start() binds this port when set (a server restarted in place)

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string error_;
};

class RedisProcess : public ServiceProcess {
 public:
  // `port` 0: one the OS has free; else that one (a Redis restarted where it was).
  explicit RedisProcess(const std::string& password = "", uint16_t port = 0);
  std::string url(int db = 0) const;  // redis://[:password@]127.0.0.1:port/db

 private:
  std::string password_;
};

class MemcachedProcess : public ServiceProcess {
 public:
  MemcachedProcess();
  std::string server() const { return "127.0.0.1:" + std::to_string(port()); }
};

// Skips the test when `service` did not start, or fails it under CI.
#define IMGORIGIN_REQUIRE_SERVICE(service)                                              \
  do {                                                                                  \
    if (!(service).started()) {                                                         \
      if (::imgorigin::testing::InCi()) FAIL() << (service).error();                    \
      GTEST_SKIP() << (service).error();                                                \
    }                                                                                   \
  } while (0)

}  // namespace imgorigin::testing
