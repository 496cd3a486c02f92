// Fuzz target: the HTTP request path, from the first byte on the socket to the reply — libevent's
// parser, the server's own checks (request target form, duplicate Content-Length and
// Transfer-Encoding, header deadline), the router and every endpoint behind it (images through a
// local source and the CPU pool, /info, /v1/purge, the admin endpoints).
//
// The server is composed once per process as `imgorigin serve` composes it (unsigned mode, an
// API key, a local root with one PNG, the in-process cache only) and listens on a loopback port.
// Each input is one connection: its bytes are written whole, the write side is shut, and the
// reply is read until the server closes. Invariants: the server answers within the header
// deadline plus the processing timeout (a hang aborts), whatever it sends starts with a status
// line, it never answers 500, and it keeps serving (the next input connects).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>
#include <vips/vips8>

#include "cache/memory_tier.h"
#include "common/fd.h"
#include "common/thread_pool.h"
#include "origin/cache_tiers.h"
#include "origin/config.h"
#include "origin/router.h"
#include "origin/server.h"
#include "signing/signer.h"
#include "sources/local_source.h"
#include "sources/source.h"
#include "sources/source_cache.h"
#include "tests/fuzz/fuzz_common.h"
#include "transforms/pipeline.h"

namespace {

using namespace imgorigin;

constexpr auto kHeaderTimeout = std::chrono::milliseconds(300);
constexpr auto kProcessingTimeout = std::chrono::milliseconds(2000);

// Everything `imgorigin serve` builds, alive for the whole process.
struct Origin {
  std::string root;
  origin::Config config;
  sources::SourceRouter router;
  std::optional<sources::LocalSource> local;
  std::unique_ptr<common::ThreadPool> io;
  std::unique_ptr<sources::SourceCache> source_cache;
  std::unique_ptr<signing::Signer> signer;
  std::unique_ptr<cache::MemoryTier> memory;
  std::unique_ptr<cache::TieredCache> tiers;
  std::unique_ptr<common::ThreadPool> cpu;
  std::unique_ptr<origin::Router> handler;
  std::unique_ptr<origin::Server> server;
  uint16_t port = 0;
};

Origin& Start() {
  static Origin* const origin = [] {
    spdlog::set_level(spdlog::level::off);
    transforms::InitVips("fuzz_http");
    auto* o = new Origin;
    char dir[] = "/tmp/imgorigin-fuzz-http-XXXXXX";
    FUZZ_CHECK(mkdtemp(dir) != nullptr, "mkdtemp failed");
    o->root = dir;
    vips::VImage::black(64, 48, vips::VImage::option()->set("bands", 3))
        .linear(1, 120)
        .cast(VIPS_FORMAT_UCHAR)
        .pngsave((o->root + "/a.png").c_str());
    auto env = [&](std::string_view name) -> std::optional<std::string> {
      if (name == "IMGORIGIN_ALLOW_UNSIGNED") return "true";
      if (name == "IMGORIGIN_LOCAL_ROOT") return o->root;
      if (name == "IMGORIGIN_API_KEY") return "fuzz-key";
      if (name == "IMGORIGIN_BIND") return "127.0.0.1:0";
      if (name == "IMGORIGIN_LOOPS") return "1";
      if (name == "IMGORIGIN_WORKERS") return "2";
      if (name == "IMGORIGIN_HEADER_TIMEOUT_MS") return std::to_string(kHeaderTimeout.count());
      if (name == "IMGORIGIN_PROCESSING_TIMEOUT_MS") {
        return std::to_string(kProcessingTimeout.count());
      }
      if (name == "IMGORIGIN_RENDER_MEMORY_BUDGET") return "1GiB";
      return std::nullopt;
    };
    auto config = origin::LoadConfig("", env);
    FUZZ_CHECK(config.has_value(), "config: %s", config.error().message.c_str());
    o->config = *std::move(config);

    auto local = sources::LocalSource::Open(o->root, o->config.max_src_bytes);
    FUZZ_CHECK(local.has_value(), "local source: %s", local.error().message.c_str());
    o->local.emplace(*std::move(local));
    o->router.Add("local", &*o->local);
    o->io = std::make_unique<common::ThreadPool>(common::ThreadPool::Config{.threads = 2});
    auto source_cache = sources::SourceCache::Open(o->config.source_cache, o->router, *o->io,
                                                   o->config.fetch.stream_to_file_bytes,
                                                   o->config.max_src_bytes);
    FUZZ_CHECK(source_cache.has_value(), "source cache: %s",
               source_cache.error().message.c_str());
    o->source_cache = *std::move(source_cache);
    o->signer = std::make_unique<signing::Signer>(o->config.signing);
    o->memory = std::make_unique<cache::MemoryTier>(o->config.memory);
    auto tiers = origin::OpenTieredCache(o->config, *o->memory);
    FUZZ_CHECK(tiers.has_value(), "tiers: %s", tiers.error().message.c_str());
    o->tiers = *std::move(tiers);
    o->cpu = std::make_unique<common::ThreadPool>(
        common::ThreadPool::Config{.threads = 2, .queue_capacity = 16});
    o->handler = std::make_unique<origin::Router>(o->config, *o->signer, *o->memory, *o->cpu,
                                                  *o->io, *o->source_cache, *o->tiers,
                                                  /*ingest=*/nullptr, /*url_source=*/nullptr);
    o->server = std::make_unique<origin::Server>(
        origin::Server::Options{.port = 0,
                                .client_timeout = std::chrono::seconds(2),
                                .header_timeout = kHeaderTimeout,
                                .max_connections = 64},
        [o](const origin::ExchangePtr& exchange) { o->handler->Handle(exchange); });
    auto port = o->server->Start();
    FUZZ_CHECK(port.has_value(), "server: %s", port.error().message.c_str());
    o->port = *port;
    return o;
  }();
  return *origin;
}

// The previous input's connection was reset on its way out; once the server has seen that, it
// must hold no state for it. State that outlives its connection counts against
// server.max_connections until the server stops accepting altogether.
void ExpectNoConnectionLeft(const origin::Server& server) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (server.open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    usleep(200);
  }
  FUZZ_CHECK(server.open_connections() == 0,
             "the server still keeps %lld connection(s) the previous inputs closed",
             static_cast<long long>(server.open_connections()));
}

// How long this process's threads have waited for a CPU, in total per thread (the run delay in
// /proc/self/task/*/schedstat), keyed by thread id.
std::map<std::string, int64_t> RunDelays() {
  std::map<std::string, int64_t> delays;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream stat(task.path() / "schedstat");
    int64_t on_cpu = 0;
    int64_t waiting = 0;
    if (stat >> on_cpu >> waiting) delays[task.path().filename()] = waiting;
  }
  return delays;
}

// The longest any thread waited for a CPU since `before`: on a loaded machine the server's loop
// may be runnable and still not run, which is no hang of its own.
std::chrono::nanoseconds LongestRunDelaySince(const std::map<std::string, int64_t>& before) {
  int64_t longest = 0;
  for (const auto& [tid, waiting] : RunDelays()) {
    if (auto found = before.find(tid); found != before.end()) {
      longest = std::max(longest, waiting - found->second);
    }
  }
  return std::chrono::nanoseconds(longest);
}

// For the report of a hang: the first line /health answers on a new connection within a second,
// or why there is none (a stuck loop answers nothing).
std::string ProbeHealth(uint16_t port) {
  common::UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    return "no connection";
  }
  (void)common::WriteAll(fd.get(), "GET /health HTTP/1.0\r\n\r\n");
  pollfd p{fd.get(), POLLIN, 0};
  if (poll(&p, 1, 1000) <= 0) return "no answer in 1 s";
  char line[64] = {};
  const ssize_t n = read(fd.get(), line, sizeof(line) - 1);
  return n > 0 ? std::string(line, static_cast<size_t>(n)).substr(0, 15) : "closed";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Origin& origin = Start();
  ExpectNoConnectionLeft(*origin.server);
  common::UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  FUZZ_CHECK(fd.valid(), "socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(origin.port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int connected = connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address));
  if (connected != 0 && errno == EINTR) {  // the connection goes on being made: wait for it
    pollfd p{fd.get(), POLLOUT, 0};
    while ((connected = poll(&p, 1, 5000)) < 0 && errno == EINTR) {
    }
    int error = 0;
    socklen_t length = sizeof(error);
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    connected = connected == 1 && error == 0 ? 0 : -1;
  }
  FUZZ_CHECK(connected == 0, "the server stopped accepting connections: %s", strerror(errno));
  // A reply may come (and the server close) before every byte is written: that is fine.
  (void)common::WriteAll(fd.get(), std::string_view(reinterpret_cast<const char*>(data), size));
  shutdown(fd.get(), SHUT_WR);

  std::string reply;
  // The deadlines are the server's; time its threads spent waiting for a CPU another process had
  // is added to them (once), so a busy machine is not taken for a hang while a real one, whose
  // threads sleep, still fails here and not only at libFuzzer's -timeout.
  const auto delays = RunDelays();
  auto deadline = std::chrono::steady_clock::now() + kHeaderTimeout + kProcessingTimeout +
                  std::chrono::seconds(3);
  bool extended = false;
  char buffer[16384];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd.get(), POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
    // libFuzzer's SIGALRM (its -timeout watchdog) interrupts whichever thread it lands on.
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0 && !extended) {
      extended = true;
      deadline += LongestRunDelaySince(delays);
      continue;
    }
    FUZZ_CHECK(ready > 0,
               "no reply and no close within the deadlines (%zu input bytes; a thread waited "
               "%lld ms for a CPU; %lld request(s) in flight; /health: %s)",
               size,
               static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          LongestRunDelaySince(delays))
                                          .count()),
               static_cast<long long>(origin.server->in_flight()),
               ProbeHealth(origin.port).c_str());
    const ssize_t n = read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // closed (or reset after an error reply)
    if (reply.size() < 64) reply.append(buffer, static_cast<size_t>(n));
  }
  // This side closed first (SHUT_WR), so its end of the connection would wait in TIME_WAIT for a
  // minute: at ~1 000 inputs/s that exhausts the 28 000 ephemeral ports (connect() then fails
  // with EADDRNOTAVAIL). A reset leaves nothing behind; the exchange is over by now.
  const linger reset{.l_onoff = 1, .l_linger = 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
  if (!reply.empty()) {
    // Requests evhttp refuses before the server sees them (an unknown method: 501) are answered
    // in whatever version evhttp parsed from them ("HTTP/1.5", even "HTTP/-1.1" from an
    // overflowing number): only the server's own answers are held to HTTP/1.x, by
    // http_hardening_test.
    FUZZ_CHECK(reply.starts_with("HTTP/"), "not a status line: %.40s", reply.c_str());
    FUZZ_CHECK(reply.find(" 500 ") == std::string::npos || reply.find(" 500 ") > reply.find('\n'),
               "500 for a request");
  }
  return 0;
}
