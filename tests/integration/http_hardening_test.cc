// The HTTP layer against hostile clients (issue 13): request smuggling through ambiguous
// framing, non-origin request targets, slow headers, too many connections, descriptor
// exhaustion, and the smaller defects (If-None-Match: *, URL length on hot paths, a second
// server on a taken port, purge of a percent-escaped source, a FIFO in the local root). Raw
// sockets, because the interesting requests are ones a well-behaved client never sends.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/fd.h"
#include "tests/integration/harness.h"

namespace imgorigin::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr char kApiKey[] = "hardening-test-key";

std::string g_root;  // local source root

// How many responses (status lines) `bytes` holds.
int CountResponses(const std::string& bytes) {
  int n = 0;
  for (size_t at = bytes.find("HTTP/1."); at != std::string::npos;
       at = bytes.find("HTTP/1.", at + 1)) {
    if (at == 0 || bytes[at - 1] == '\n') ++n;
  }
  return n;
}

// The status code of the first response in `bytes`; 0 if there is none.
int StatusOf(const std::string& bytes) {
  if (!bytes.starts_with("HTTP/1.") || bytes.size() < 12) return 0;
  return std::stoi(bytes.substr(9, 3));
}

// User plus system CPU time the process has used, from /proc.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long ticks = 0;
  // Fields from the third (state) on; utime and stime are the 14th and 15th.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i >= 14) ticks += std::stol(field);
  }
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

off_t FileSize(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

class HttpHardeningTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    vips_init("http_hardening_test");
    g_root = MakeTempDir();
    vips::VImage::black(64, 48).jpegsave((g_root + "/a b.jpg").c_str());
    vips::VImage::black(64, 48).jpegsave((g_root + "/x.jpg").c_str());
    mkfifo((g_root + "/pipe.jpg").c_str(), 0644);
  }

  static std::map<std::string, std::string> Env(std::map<std::string, std::string> extra = {}) {
    std::map<std::string, std::string> env = {
        {"IMGORIGIN_BIND", "127.0.0.1:0"}, {"IMGORIGIN_KEY", kKeyHex},
        {"IMGORIGIN_SALT", kSaltHex},      {"IMGORIGIN_LOCAL_ROOT", g_root},
        {"IMGORIGIN_LOOPS", "1"},          {"IMGORIGIN_API_KEY", kApiKey},
    };
    for (auto& [k, v] : extra) env[k] = v;
    return env;
  }

  // Sends `request` on a new connection; returns what came back before the server closed the
  // connection (or 5 s passed), and whether it closed.
  static std::pair<std::string, bool> Exchange(uint16_t port, const std::string& request) {
    RawConnection c(port);
    EXPECT_TRUE(c.connected());
    c.Send(request);
    bool closed = c.WaitClosed(5s);
    return {c.received(), closed};
  }

  static std::string Purge(uint16_t port, const std::string& source) {
    const std::string body = "{\"source\":\"" + source + "\"}";
    RawConnection c(port);
    c.Send("POST /v1/purge HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + std::string(kApiKey) +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n" + body);
    c.WaitClosed(10s);
    return c.received();
  }
};

constexpr char kSmuggled[] = "GET /health HTTP/1.1\r\nHost: t\r\n\r\n";

// RFC 9112 §6.3: a message whose length cannot be told for certain is a 400 and the connection
// closes, so nothing after it is ever read as a request of its own.
TEST_F(HttpHardeningTest, AmbiguousFramingIs400AndClosesTheConnection) {
  OriginProcess server(Env());
  ASSERT_TRUE(server.started()) << server.output();
  const std::string smuggled = kSmuggled;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"two different Content-Length",
       "POST /v1/purge HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: " +
           std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled},
      {"two equal Content-Length",
       "POST /v1/purge HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}" +
           smuggled},
      {"Content-Length on a GET, twice",
       "GET /health HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: " +
           std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled},
      {"Transfer-Encoding with Content-Length",
       "POST /v1/purge HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: " +
           std::to_string(5 + smuggled.size()) + "\r\n\r\n0\r\n\r\n" + smuggled},
      {"Transfer-Encoding other than chunked",
       "POST /v1/purge HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n" + smuggled},
      {"space before the colon", "POST /v1/purge HTTP/1.1\r\nHost: t\r\nContent-Length : " +
                                     std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled},
      {"signed Content-Length",
       "POST /v1/purge HTTP/1.1\r\nHost: t\r\nContent-Length: +2\r\n\r\n{}" + smuggled},
      {"a body on HEAD, which evhttp never reads",
       "HEAD /health HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(smuggled.size()) +
           "\r\n\r\n" + smuggled},
      {"two Host headers", "GET /health HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n" + smuggled},
  };
  for (const auto& [what, request] : cases) {
    auto [reply, closed] = Exchange(server.port(), request);
    EXPECT_EQ(StatusOf(reply), 400) << what << ":\n" << reply;
    EXPECT_EQ(CountResponses(reply), 1) << what << ": the remainder was answered:\n" << reply;
    EXPECT_NE(reply.find("Connection: close"), std::string::npos) << what << ":\n" << reply;
    EXPECT_TRUE(closed) << what;
  }
  // Chunked alone is well framed and keeps working, as do pipelined requests.
  auto [chunked, _] =
      Exchange(server.port(),
               "POST /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
               "\r\n2\r\n{}\r\n0\r\n\r\n" +
                   smuggled + "GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(StatusOf(chunked), 405) << chunked;
  EXPECT_EQ(CountResponses(chunked), 3) << chunked;
}

TEST_F(HttpHardeningTest, OnlyOriginFormTargetsAreServed) {
  OriginProcess server(Env());
  ASSERT_TRUE(server.started()) << server.output();
  const std::string host = "127.0.0.1:" + std::to_string(server.port());
  const std::string image = Signed("/w:10/plain/local:///x.jpg");
  for (const char* method : {"GET", "HEAD", "POST"}) {
    for (const std::string& target : {"http://" + host + image, "http://" + host + "/health",
                                      std::string("*"), "https://" + host + "/v1/purge"}) {
      auto [reply, closed] = Exchange(server.port(), std::string(method) + " " + target +
                                                         " HTTP/1.1\r\nHost: " + host +
                                                         "\r\nContent-Length: 0\r\n\r\n");
      EXPECT_EQ(StatusOf(reply), 400) << method << " " << target << ":\n" << reply;
    }
  }
  // The same image in origin-form is served.
  auto [reply, closed] =
      Exchange(server.port(), "GET " + image + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(StatusOf(reply), 200) << reply;
}

// evhttp answers in the version it was asked in: "HTTP/0.1" got an "HTTP/0.1 400" status line.
TEST_F(HttpHardeningTest, OnlyHttp1RequestsAreServedAndEveryAnswerIsHttp11) {
  OriginProcess server(Env());
  ASSERT_TRUE(server.started()) << server.output();
  for (const char* version : {"HTTP/0.1", "HTTP/0.9", "HTTP/1.5", "HTTP/1.9"}) {
    auto [reply, closed] = Exchange(server.port(), std::string("GET /health ") + version +
                                                       "\r\nHost: t\r\n\r\n");
    EXPECT_TRUE(reply.starts_with("HTTP/1.1 400 ")) << version << ":\n" << reply;
  }
  auto [reply, closed] = Exchange(server.port(), "GET /health HTTP/1.0\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.0 200 ")) << reply;
}

// evhttp's client timeout restarts with every byte read; the header deadline does not.
TEST_F(HttpHardeningTest, HeadersMustArriveWithinTheHeaderTimeout) {
  OriginProcess server(Env({{"IMGORIGIN_HEADER_TIMEOUT_MS", "1000"}}));
  ASSERT_TRUE(server.started()) << server.output();

  // One byte every 100 ms: never idle long enough for client_timeout_s.
  RawConnection slow(server.port());
  const std::string request =
      "GET /health HTTP/1.1\r\nHost: t\r\nX-Padding: " + std::string(100, 'p') + "\r\n\r\n";
  const auto start = Clock::now();
  size_t sent = 0;
  while (sent < request.size() && !slow.WaitClosed(100ms)) slow.Send(request.substr(sent++, 1));
  EXPECT_TRUE(slow.closed()) << "the slow client got its whole request in";
  EXPECT_LT(Clock::now() - start, 2500ms);
  EXPECT_EQ(slow.received(), "");

  // A connection that sends nothing at all is closed too.
  RawConnection silent(server.port());
  EXPECT_TRUE(silent.WaitClosed(2500ms));

  // A keep-alive client idle between requests for longer than the header timeout is not cut:
  // idleness is client_timeout_s's business. Its next request gets a deadline of its own.
  RawConnection keep(server.port());
  keep.Send(kSmuggled);
  EXPECT_EQ(StatusOf(keep.ReadUntil("\r\nok", 2s)), 200);
  EXPECT_FALSE(keep.WaitClosed(1500ms));
  keep.Send(kSmuggled);
  EXPECT_EQ(CountResponses(keep.ReadUntil("\r\nok", 2s, 2)), 2) << keep.received();
  const auto third = Clock::now();
  for (sent = 0; sent < request.size() && !keep.WaitClosed(100ms); ++sent) {
    keep.Send(request.substr(sent, 1));
  }
  EXPECT_TRUE(keep.closed());
  EXPECT_LT(Clock::now() - third, 2500ms);
  EXPECT_EQ(CountResponses(keep.received()), 2) << keep.received();

  // The server itself is fine.
  EXPECT_EQ(server.Get("/health").status, 200);
}

TEST_F(HttpHardeningTest, ConnectionCapHoldsTheNextConnectionUntilOneCloses) {
  OriginProcess server(Env({{"IMGORIGIN_MAX_CONNECTIONS", "3"}}));
  ASSERT_TRUE(server.started()) << server.output();
  std::vector<std::unique_ptr<RawConnection>> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(std::make_unique<RawConnection>(server.port()));
    open.back()->Send(kSmuggled);
    ASSERT_EQ(StatusOf(open.back()->ReadUntil("\r\nok", 5s)), 200) << i;
  }
  auto waiting = std::make_unique<RawConnection>(server.port());
  ASSERT_TRUE(waiting->connected());  // the kernel's backlog takes it; the server does not
  waiting->Send(kSmuggled);
  EXPECT_EQ(waiting->ReadUntil("\r\nok", 1s), "");
  // The open ones are still served.
  open[1]->Send(kSmuggled);
  EXPECT_EQ(CountResponses(open[1]->ReadUntil("\r\nok", 2s, 2)), 2);
  open.erase(open.begin());  // one closes
  EXPECT_EQ(StatusOf(waiting->ReadUntil("\r\nok", 5s)), 200) << waiting->received();
  waiting.reset();

  // Every way a connection can end gives its place back: after hundreds of them, with two of
  // the three places taken, the cap still lets one more in.
  for (int i = 0; i < 300; ++i) {
    RawConnection c(server.port());
    ASSERT_TRUE(c.connected());
    switch (i % 5) {
      case 0:  // closes before sending anything
        break;
      case 1:  // closes in the middle of the headers
        c.Send("GET /health HTTP/1.1\r\nHo");
        break;
      case 2:  // is reset after a whole request
        c.Send(kSmuggled);
        c.ResetOnClose();
        break;
      case 3:  // is answered and closed by the server
        c.Send("GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        c.WaitClosed(5s);
        break;
      case 4:  // sends something evhttp refuses
        c.Send("BREW /pot HTCPCP/1.0\r\n\r\n");
        c.WaitClosed(5s);
        break;
    }
  }
  RawConnection last(server.port());
  last.Send(kSmuggled);
  EXPECT_EQ(StatusOf(last.ReadUntil("\r\nok", 5s)), 200) << last.received();
}

// With descriptors exhausted, accept() fails at once every time the listener is polled; the
// listener must pause instead of spinning and logging each failure.
TEST_F(HttpHardeningTest, DescriptorExhaustionBacksOffInsteadOfSpinning) {
  const std::string log = MakeTempDir() + "/stderr.log";
  std::unique_ptr<OriginProcess> server;
  {
    // The child inherits the descriptor limit and its stderr from this process: lower the one
    // and point the other at a file just while it is spawned.
    rlimit saved{};
    getrlimit(RLIMIT_NOFILE, &saved);
    rlimit low = saved;
    low.rlim_cur = 128;
    common::UniqueFd file(open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    common::UniqueFd saved_stderr(dup(STDERR_FILENO));
    ASSERT_TRUE(file.valid() && saved_stderr.valid());
    dup2(file.get(), STDERR_FILENO);
    setrlimit(RLIMIT_NOFILE, &low);
    server = std::make_unique<OriginProcess>(Env());
    setrlimit(RLIMIT_NOFILE, &saved);
    dup2(saved_stderr.get(), STDERR_FILENO);
  }
  ASSERT_TRUE(server->started()) << server->output();
  ASSERT_EQ(server->Get("/health").status, 200);

  std::vector<std::unique_ptr<RawConnection>> flood;
  for (int i = 0; i < 200; ++i) {
    flood.push_back(std::make_unique<RawConnection>(server->port()));
    ASSERT_TRUE(flood.back()->connected()) << i;
  }
  std::this_thread::sleep_for(500ms);  // the server accepts until it runs out
  const double cpu = CpuSeconds(server->pid());
  const off_t size = FileSize(log);
  std::this_thread::sleep_for(2s);
  EXPECT_LT(CpuSeconds(server->pid()) - cpu, 0.5) << "the accept loop spins";
  EXPECT_LT(FileSize(log) - size, 64 << 10) << "the log grows";
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(text.find("Too many open files"), std::string::npos) << text.substr(0, 2000);

  flood.clear();
  const auto deadline = Clock::now() + 10s;
  long status = 0;
  while (status != 200 && Clock::now() < deadline) {
    RawConnection c(server->port());
    c.Send("GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    status = StatusOf(c.ReadUntil("\r\nok", 2s));
  }
  EXPECT_EQ(status, 200);
}

TEST_F(HttpHardeningTest, IfNoneMatchStarNeedsAnExistingImage) {
  OriginProcess server(Env());
  ASSERT_TRUE(server.started()) << server.output();
  auto missing = server.Get(Signed("/w:10/plain/local:///missing.jpg"), {"If-None-Match: *"});
  EXPECT_EQ(missing.status, 404) << missing.body;
  auto head = HttpRequest(server.port(), Signed("/w:10/plain/local:///missing.jpg"),
                          {"If-None-Match: *"}, "HEAD");
  EXPECT_EQ(head.status, 404);
  // An image that exists matches "*", rendered or not.
  auto fresh = server.Get(Signed("/w:11/plain/local:///x.jpg"), {"If-None-Match: *"});
  EXPECT_EQ(fresh.status, 304);
  EXPECT_FALSE(fresh.header("ETag").empty());
  EXPECT_TRUE(fresh.body.empty());
  auto cached = server.Get(Signed("/w:11/plain/local:///x.jpg"), {"If-None-Match: \"x\", *"});
  EXPECT_EQ(cached.status, 304);
  EXPECT_EQ(cached.header("ETag"), fresh.header("ETag"));
}

TEST_F(HttpHardeningTest, UrlLengthIsCheckedOnHotPathsToo) {
  OriginProcess server(Env({{"IMGORIGIN_MAX_URL_LENGTH", "200"}}));
  ASSERT_TRUE(server.started()) << server.output();
  const std::string url = Signed("/w:12/plain/local:///x.jpg");
  ASSERT_LT(url.size(), 150u);
  EXPECT_EQ(server.Get(url).header("X-Cache"), "MISS");
  EXPECT_EQ(server.Get(url).header("X-Cache"), "HIT-MEMORY");  // now a hot path
  EXPECT_EQ(server.Get(url + "?").status, 200);
  const std::string long_url = url + "?" + std::string(200, 'q');
  for (int i = 0; i < 3; ++i) {
    auto r = server.Get(long_url);
    EXPECT_EQ(r.status, 400) << i << ": " << r.body;
    EXPECT_NE(r.body.find("longer than 200"), std::string::npos) << r.body;
  }
}

TEST_F(HttpHardeningTest, SecondServerOnATakenPortRefusesToStart) {
  OriginProcess first(Env());
  ASSERT_TRUE(first.started()) << first.output();
  const std::string port = std::to_string(first.port());
  std::string out;
  int status = RunBinary({"serve"}, Env({{"IMGORIGIN_BIND", "127.0.0.1:" + port}}), &out);
  EXPECT_GT(status, 0) << out;
  EXPECT_NE(out.find("127.0.0.1:" + port), std::string::npos) << out;
  EXPECT_NE(out.find("in use"), std::string::npos) << out;
  EXPECT_EQ(out.find("listening on"), std::string::npos) << out;
  // Also when the first one listens on every address.
  OriginProcess wildcard(Env({{"IMGORIGIN_BIND", "0.0.0.0:0"}}));
  ASSERT_TRUE(wildcard.started()) << wildcard.output();
  status = RunBinary(
      {"serve"}, Env({{"IMGORIGIN_BIND", "127.0.0.1:" + std::to_string(wildcard.port())}}), &out);
  EXPECT_GT(status, 0) << out;
  EXPECT_EQ(first.Get("/health").status, 200);
  // A port freed by a server that stopped can be taken again at once.
  const uint16_t freed = first.port();
  first.Stop();
  OriginProcess again(Env({{"IMGORIGIN_BIND", "127.0.0.1:" + std::to_string(freed)}}));
  EXPECT_TRUE(again.started()) << again.output();
}

TEST_F(HttpHardeningTest, PurgeDecodesPercentEscapesLikePlainSources) {
  OriginProcess server(Env());
  ASSERT_TRUE(server.started()) << server.output();
  const std::string url = Signed("/w:13/plain/local:///a%20b.jpg");
  EXPECT_EQ(server.Get(url).header("X-Cache"), "MISS");
  EXPECT_EQ(server.Get(url).header("X-Cache"), "HIT-MEMORY");
  std::string reply = Purge(server.port(), "local:///a%20b.jpg");
  EXPECT_EQ(StatusOf(reply), 200) << reply;
  EXPECT_NE(reply.find("\"source\":\"local:///a b.jpg\""), std::string::npos) << reply;
  EXPECT_EQ(server.Get(url).header("X-Cache"), "MISS");
  // The unescaped spelling names the same source.
  EXPECT_EQ(StatusOf(Purge(server.port(), "local:///a b.jpg")), 200);
  EXPECT_EQ(server.Get(url).header("X-Cache"), "MISS");
  // "@" needs no escape here (it marks an extension only in image URLs), "%" does.
  reply = Purge(server.port(), "local:///k@2x.jpg");
  EXPECT_NE(reply.find("\"source\":\"local:///k@2x.jpg\""), std::string::npos) << reply;
  EXPECT_EQ(StatusOf(Purge(server.port(), "local:///100%.jpg")), 400);
}

TEST_F(HttpHardeningTest, FifoInTheLocalRootIs404AndBlocksNothing) {
  OriginProcess server(Env({{"IMGORIGIN_IO_THREADS", "1"}}));
  ASSERT_TRUE(server.started()) << server.output();
  for (int i = 0; i < 2; ++i) {  // with one I/O thread, a blocked open would stall the second
    RawConnection c(server.port());
    c.Send("GET " + Signed("/w:10/plain/local:///pipe.jpg") +
           " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(StatusOf(c.ReadUntil("\r\n\r\n", 5s)), 404) << c.received();
  }
  EXPECT_EQ(server.Get(Signed("/w:10/plain/local:///x.jpg")).status, 200);
}

}  // namespace
}  // namespace imgorigin::testing
