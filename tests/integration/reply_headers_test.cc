// Reply heads as they go on the wire (issue 18, point 4): every header but evhttp's framing ones
// reaches evhttp as one preformatted block (Exchange::Send), and a hot path's memory hit copies
// its block as formatted once. These tests read raw response bytes, so they see what a client
// sees: each header once, the same headers and values whether an answer was rendered, hit memory
// or came from a hot path, and the connection behaviours around them (HEAD, 304, purge,
// pipelining, Connection: close). A plain GET or HEAD is a direct request, read and answered
// without evhttp (origin/server.h); the same request with "Content-Length: 0" goes through
// evhttp, and the two must answer alike, in order, to slow readers and to clients that left.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/integration/harness.h"

namespace imgorigin::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kApiKey[] = "reply-headers-test-key";
std::string g_root;

struct Head {
  std::string status_line;
  std::vector<std::pair<std::string, std::string>> headers;  // in wire order
  std::string body;

  // The values of `name` (any case), in order.
  std::vector<std::string> All(const std::string& name) const {
    std::vector<std::string> values;
    for (const auto& [n, v] : headers) {
      if (CaseLess{}(n, name) == CaseLess{}(name, n)) values.push_back(v);
    }
    return values;
  }
  std::string One(const std::string& name) const {
    auto values = All(name);
    EXPECT_EQ(values.size(), 1u) << name << " in\n" << status_line;
    return values.empty() ? "" : values.front();
  }
};

// Splits the responses in `bytes`; a body is as long as its Content-Length says (none for HEAD
// and 304, whose Content-Length `no_body` says to ignore).
std::vector<Head> ParseResponses(const std::string& bytes, bool no_body = false) {
  std::vector<Head> out;
  size_t at = 0;
  while (at < bytes.size()) {
    const size_t end = bytes.find("\r\n\r\n", at);
    if (end == std::string::npos) break;
    Head head;
    size_t line_end = bytes.find("\r\n", at);
    head.status_line = bytes.substr(at, line_end - at);
    for (size_t p = line_end + 2; p < end + 2;) {
      const size_t e = bytes.find("\r\n", p);
      const std::string line = bytes.substr(p, e - p);
      const size_t colon = line.find(": ");
      EXPECT_NE(colon, std::string::npos) << "malformed header line: " << line;
      if (colon != std::string::npos) head.headers.emplace_back(line.substr(0, colon), line.substr(colon + 2));
      p = e + 2;
    }
    at = end + 4;
    size_t length = 0;
    for (const auto& [n, v] : head.headers) {
      if (n == "Content-Length") length = std::stoul(v);
    }
    if (no_body || head.status_line.find(" 304 ") != std::string::npos) length = 0;
    head.body = bytes.substr(at, length);
    at += length;
    out.push_back(std::move(head));
  }
  return out;
}

std::string Get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n";
}

// One request on its own connection: its response, parsed.
Head Exchange1(uint16_t port, const std::string& request, bool no_body = false) {
  RawConnection c(port);
  EXPECT_TRUE(c.connected());
  c.Send(request);
  c.ReadUntil("\r\n\r\n", 10s);
  // The head has arrived; the body (if any) follows at once on loopback.
  auto first = ParseResponses(c.received(), true);
  if (!no_body && !first.empty() && first.front().All("Content-Length").size() == 1) {
    const std::string length = first.front().One("Content-Length");
    const size_t want = c.received().find("\r\n\r\n") + 4 + std::stoul(length);
    for (int i = 0; i < 100 && c.received().size() < want && !c.closed(); ++i) {
      c.ReadUntil("\x01never", 50ms);
    }
  }
  auto parsed = ParseResponses(c.received(), no_body);
  EXPECT_EQ(parsed.size(), 1u) << c.received();
  return parsed.empty() ? Head{} : parsed.front();
}

class ReplyHeadersTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    vips_init("reply_headers_test");
    g_root = MakeTempDir();
    (vips::VImage::black(64, 48) + 90).cast(VIPS_FORMAT_UCHAR).jpegsave((g_root + "/a.jpg").c_str());
    // Noise does not compress: its PNG is ~6 MB, far more than a socket takes at once.
    vips::VImage::gaussnoise(1400, 1400)
        .bandjoin({vips::VImage::gaussnoise(1400, 1400), vips::VImage::gaussnoise(1400, 1400)})
        .cast(VIPS_FORMAT_UCHAR)
        .pngsave((g_root + "/noise.png").c_str(), vips::VImage::option()->set("compression", 1));
  }

  void SetUp() override {
    server_ = std::make_unique<OriginProcess>(std::map<std::string, std::string>{
        {"IMGORIGIN_BIND", "127.0.0.1:0"},
        {"IMGORIGIN_KEY", kKeyHex},
        {"IMGORIGIN_SALT", kSaltHex},
        {"IMGORIGIN_LOCAL_ROOT", g_root},
        {"IMGORIGIN_LOOPS", "1"},
        {"IMGORIGIN_API_KEY", kApiKey},
    });
    ASSERT_TRUE(server_->started()) << server_->output();
  }

  uint16_t port() const { return server_->port(); }

  std::unique_ptr<OriginProcess> server_;
};

// The headers whose values change from one answer to the next.
bool PerRequest(const std::string& name) {
  return name == "Date" || name == "X-Cache" || name == "Server-Timing" || name == "X-Request-Id";
}

TEST_F(ReplyHeadersTest, HotHitSendsTheHeadersOfTheRenderedAnswerEachOnce) {
  // Negotiated (Vary: Accept) and with a download name that needs RFC 5987 encoding.
  const std::string url = Signed("/w:40/fn:caf%C3%A9%20shot/plain/local:///a.jpg");
  const std::string accept = "Accept: image/webp,*/*\r\n";
  Head miss = Exchange1(port(), Get(url, accept));
  Head memory = Exchange1(port(), Get(url, accept));  // the first hit remembers the hot path
  Head hot = Exchange1(port(), Get(url, accept));     // answered with the remembered block
  ASSERT_EQ(miss.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(miss.One("X-Cache"), "MISS");
  EXPECT_EQ(memory.One("X-Cache"), "HIT-MEMORY");
  EXPECT_EQ(hot.One("X-Cache"), "HIT-MEMORY");
  EXPECT_EQ(hot.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(hot.One("Content-Type"), "image/webp");
  EXPECT_EQ(hot.One("Vary"), "Accept");
  EXPECT_EQ(hot.One("Content-Disposition"),
            "inline; filename=\"caf__ shot.webp\"; filename*=UTF-8''caf%C3%A9%20shot.webp");
  EXPECT_EQ(hot.One("Content-Length"), std::to_string(hot.body.size()));
  EXPECT_EQ(hot.body, miss.body);
  EXPECT_EQ(hot.One("Server-Timing").rfind("cache;desc=memory, total;dur=", 0), 0u);
  EXPECT_EQ(hot.One("Date").size(), 29u) << hot.One("Date");  // "Sun, 06 Nov 1994 08:49:37 GMT"
  for (const Head* head : {&miss, &memory, &hot}) {
    std::map<std::string, int> seen;
    for (const auto& [name, value] : head->headers) ++seen[name];
    for (const auto& [name, count] : seen) EXPECT_EQ(count, 1) << name;
    ASSERT_EQ(head->headers.size(), miss.headers.size());
  }
  // The same names, and byte for byte the same values but for the per-request ones.
  for (size_t i = 0; i < miss.headers.size(); ++i) {
    const auto& [name, value] = miss.headers[i];
    EXPECT_EQ(hot.headers[i].first, name);
    EXPECT_EQ(memory.headers[i].first, name);
    if (PerRequest(name)) continue;
    EXPECT_EQ(hot.headers[i].second, value) << name;
    EXPECT_EQ(memory.headers[i].second, value) << name;
  }
  // A request id the client sent comes back.
  Head own = Exchange1(port(), Get(url, accept + "X-Request-Id: mine-123\r\n"));
  EXPECT_EQ(own.One("X-Request-Id"), "mine-123");
}

TEST_F(ReplyHeadersTest, HeadAnd304FromAHotPath) {
  const std::string url = Signed("/w:30/plain/local:///a.jpg");
  Head full = Exchange1(port(), Get(url));
  Exchange1(port(), Get(url));  // hot from here on
  Head head = Exchange1(port(), "HEAD " + url + " HTTP/1.1\r\nHost: t\r\n\r\n", /*no_body=*/true);
  EXPECT_EQ(head.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(head.One("Content-Length"), std::to_string(full.body.size()));
  EXPECT_EQ(head.One("Content-Type"), "image/jpeg");
  EXPECT_EQ(head.One("ETag"), full.One("ETag"));
  EXPECT_EQ(head.One("X-Cache"), "HIT-MEMORY");

  Head not_modified = Exchange1(port(), Get(url, "If-None-Match: " + full.One("ETag") + "\r\n"));
  EXPECT_EQ(not_modified.status_line, "HTTP/1.1 304 Not Modified");
  EXPECT_EQ(not_modified.One("ETag"), full.One("ETag"));
  EXPECT_EQ(not_modified.One("Cache-Control"), full.One("Cache-Control"));
  EXPECT_TRUE(not_modified.All("Content-Length").empty());
  EXPECT_EQ(not_modified.One("Date").size(), 29u);
  EXPECT_FALSE(not_modified.One("X-Request-Id").empty());
}

TEST_F(ReplyHeadersTest, PurgeEndsTheHotPath) {
  const std::string url = Signed("/w:20/plain/local:///a.jpg");
  Head first = Exchange1(port(), Get(url));
  EXPECT_EQ(Exchange1(port(), Get(url)).One("X-Cache"), "HIT-MEMORY");
  EXPECT_EQ(Exchange1(port(), Get(url)).One("X-Cache"), "HIT-MEMORY");
  const std::string body = "{\"source\":\"local:///a.jpg\"}";
  Head purged = Exchange1(
      port(), "POST /v1/purge HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + std::string(kApiKey) +
                  "\r\nContent-Type: application/json\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(purged.status_line, "HTTP/1.1 200 OK") << purged.body;
  Head after = Exchange1(port(), Get(url));
  EXPECT_EQ(after.One("X-Cache"), "MISS");
  EXPECT_EQ(after.body, first.body);
}

TEST_F(ReplyHeadersTest, PipelinedRequestsAreAnsweredInOrderAndCloseIsHonoured) {
  const std::string a = Signed("/w:10/plain/local:///a.jpg");
  const std::string b = Signed("/w:11/plain/local:///a.jpg");
  for (const auto& url : {a, b}) {
    Exchange1(port(), Get(url));
    Exchange1(port(), Get(url));
  }
  RawConnection c(port());
  ASSERT_TRUE(c.connected());
  // Hot hits, a HEAD, an error and the health check in one write, the last asking to close.
  c.Send(Get(a, "X-Request-Id: r1\r\n") + Get(b, "X-Request-Id: r2\r\n") +
         "HEAD " + a + " HTTP/1.1\r\nHost: t\r\nX-Request-Id: r3\r\n\r\n" +
         Get("/nope/x", "X-Request-Id: r4\r\n") +
         Get("/health", "X-Request-Id: r5\r\nConnection: close\r\n"));
  EXPECT_TRUE(c.WaitClosed(10s));
  // The HEAD's Content-Length is not followed by a body: parse the HEAD's part on its own.
  const std::string& bytes = c.received();
  auto first_two = ParseResponses(bytes.substr(0, bytes.find("HTTP/1.1", bytes.find("r2\r\n"))));
  ASSERT_EQ(first_two.size(), 2u) << bytes;
  EXPECT_EQ(first_two[0].One("X-Request-Id"), "r1");
  EXPECT_EQ(first_two[1].One("X-Request-Id"), "r2");
  const size_t third = bytes.find("HTTP/1.1", bytes.find("r2\r\n"));
  const size_t fourth = bytes.find("HTTP/1.1", bytes.find("r3\r\n"));
  auto head = ParseResponses(bytes.substr(third, fourth - third), /*no_body=*/true);
  ASSERT_EQ(head.size(), 1u);
  EXPECT_EQ(head[0].One("X-Request-Id"), "r3");
  EXPECT_EQ(head[0].One("Content-Length"), std::to_string(first_two[0].body.size()));
  auto rest = ParseResponses(bytes.substr(fourth));
  ASSERT_EQ(rest.size(), 2u) << bytes;
  EXPECT_EQ(rest[0].One("X-Request-Id"), "r4");
  EXPECT_NE(rest[0].status_line.find(" 40"), std::string::npos) << rest[0].status_line;
  EXPECT_EQ(rest[1].One("X-Request-Id"), "r5");
  EXPECT_EQ(rest[1].One("Connection"), "close");
  EXPECT_EQ(rest[1].body, "ok\n");
}

TEST_F(ReplyHeadersTest, ErrorAndMetricsRepliesKeepTheirFraming) {
  Head health = Exchange1(port(), Get("/health"));
  EXPECT_EQ(health.One("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(health.One("Cache-Control"), "no-store");
  EXPECT_EQ(health.One("Content-Length"), std::to_string(health.body.size()));
  Head metrics = Exchange1(port(), Get("/metrics"));
  EXPECT_EQ(metrics.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(metrics.One("Content-Length"), std::to_string(metrics.body.size()));
  EXPECT_NE(metrics.body.find("requests_total"), std::string::npos);
  // A request the server refuses closes the connection and says so once.
  Head refused = Exchange1(port(), "GET /health HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n"
                                   "Content-Length: 2\r\n\r\nab");
  EXPECT_EQ(refused.status_line.substr(0, 12), "HTTP/1.1 400");
  EXPECT_EQ(refused.One("Connection"), "close");
}

// What a direct request and the same request through evhttp are answered: the same status line
// and the same headers in the same order, with the same values but for those of the moment.
TEST_F(ReplyHeadersTest, DirectAndEvhttpRequestsAreAnsweredAlike) {
  const std::string url = Signed("/w:33/plain/local:///a.jpg");
  const std::string etag = Exchange1(port(), Get(url)).One("ETag");
  struct Case {
    std::string request;  // without its final CRLF
    bool no_body = false;
  };
  const std::vector<Case> cases = {
      {"GET " + url + " HTTP/1.1\r\nHost: t\r\n"},
      {"HEAD " + url + " HTTP/1.1\r\nHost: t\r\n", true},
      {"GET " + url + " HTTP/1.1\r\nIf-None-Match: " + etag + "\r\n"},
      {"GET " + Signed("/w:34/plain/local:///nope.jpg") + " HTTP/1.1\r\n"},
      {"GET /AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/w:33/plain/local:///a.jpg HTTP/1.1\r\n"},
      {"GET /health HTTP/1.1\r\nAccept: */*\r\n"},
  };
  for (const auto& c : cases) {
    const std::string id = "X-Request-Id: same\r\n";
    Head direct = Exchange1(port(), c.request + id + "\r\n", c.no_body);
    Head evhttp = Exchange1(port(), c.request + id + "Content-Length: 0\r\n\r\n", c.no_body);
    ASSERT_FALSE(direct.status_line.empty()) << c.request;
    EXPECT_EQ(direct.status_line, evhttp.status_line) << c.request;
    ASSERT_EQ(direct.headers.size(), evhttp.headers.size()) << c.request;
    for (size_t i = 0; i < direct.headers.size(); ++i) {
      EXPECT_EQ(direct.headers[i].first, evhttp.headers[i].first) << c.request;
      if (!PerRequest(direct.headers[i].first)) {
        EXPECT_EQ(direct.headers[i].second, evhttp.headers[i].second) << c.request;
      }
    }
    EXPECT_EQ(direct.body, evhttp.body) << c.request;
  }
}

// Direct requests answered at once, direct requests that render first, and requests evhttp reads
// (a body, a close), all in one write: answered in the order they came.
TEST_F(ReplyHeadersTest, PipelinedDirectAndEvhttpRequestsKeepTheirOrder) {
  const std::string hot = Signed("/w:15/plain/local:///a.jpg");
  Exchange1(port(), Get(hot));
  RawConnection c(port());
  ASSERT_TRUE(c.connected());
  c.Send(Get(Signed("/w:16/plain/local:///a.jpg"), "X-Request-Id: r1\r\n") +
         Get(hot, "X-Request-Id: r2\r\n") +
         Get("/health", "X-Request-Id: r3\r\nContent-Length: 0\r\n") +
         Get(Signed("/w:17/plain/local:///a.jpg"), "X-Request-Id: r4\r\n") +
         Get(hot, "X-Request-Id: r5\r\n") +
         Get("/health", "X-Request-Id: r6\r\nConnection: close\r\n"));
  EXPECT_TRUE(c.WaitClosed(10s));
  auto replies = ParseResponses(c.received());
  ASSERT_EQ(replies.size(), 6u) << c.received();
  for (size_t i = 0; i < replies.size(); ++i) {
    EXPECT_EQ(replies[i].status_line, "HTTP/1.1 200 OK");
    EXPECT_EQ(replies[i].One("X-Request-Id"), "r" + std::to_string(i + 1));
  }
  EXPECT_EQ(replies[0].One("X-Cache"), "MISS");
  EXPECT_EQ(replies[1].One("X-Cache"), "HIT-MEMORY");
  EXPECT_EQ(replies[1].body, replies[4].body);
}

// A client that reads slowly gets its replies whole and in order, and holds nobody else up: the
// loop writes what the socket takes and goes on with other connections.
TEST_F(ReplyHeadersTest, ASlowReaderGetsItsRepliesWholeAndHoldsNobodyUp) {
  const std::string url = Signed("/plain/local:///noise.png");
  const Head reference = Exchange1(port(), Get(url));
  ASSERT_EQ(reference.status_line, "HTTP/1.1 200 OK");
  ASSERT_GT(reference.body.size(), 4u << 20);
  common::UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int small = 4096;
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string requests = Get(url, "X-Request-Id: s1\r\n") + Get(url, "X-Request-Id: s2\r\n") +
                               Get("/health", "X-Request-Id: s3\r\n");
  ASSERT_EQ(send(fd.get(), requests.data(), requests.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(requests.size()));
  std::this_thread::sleep_for(300ms);  // the server's writes fill the socket meanwhile
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Exchange1(port(), Get("/health")).body, "ok\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  std::string received;
  const size_t want = 2 * reference.body.size();
  char buffer[65536];
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline &&
         (received.size() < want || received.find("s3\r\n") == std::string::npos)) {
    timeval tv{1, 0};
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const ssize_t n = recv(fd.get(), buffer, sizeof buffer, 0);
    if (n <= 0) break;
    received.append(buffer, static_cast<size_t>(n));
  }
  auto replies = ParseResponses(received);
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[0].One("X-Request-Id"), "s1");
  EXPECT_EQ(replies[1].One("X-Request-Id"), "s2");
  EXPECT_EQ(replies[2].One("X-Request-Id"), "s3");
  EXPECT_TRUE(replies[0].body == reference.body);
  EXPECT_TRUE(replies[1].body == reference.body);
  EXPECT_EQ(replies[2].body, "ok\n");
}

// A client that leaves while its direct request renders: the reply has nowhere to go, and nothing
// stays behind (no request in progress, no connection open, the server serves on and stops
// cleanly).
TEST_F(ReplyHeadersTest, AClientGoneBeforeItsDirectReplyLeavesNothingBehind) {
  for (int i = 0; i < 5; ++i) {
    RawConnection c(port());
    ASSERT_TRUE(c.connected());
    c.Send(Get(Signed("/w:" + std::to_string(50 + i) + "/plain/local:///noise.png")));
    c.ResetOnClose();
  }
  double in_progress = -1;
  double connections = -1;
  for (int i = 0; i < 100 && (in_progress != 1 || connections != 1); ++i) {
    std::this_thread::sleep_for(50ms);
    const std::string metrics = Exchange1(port(), Get("/metrics")).body;
    in_progress = Metric(metrics, "requests_in_progress");
    connections = Metric(metrics, "imgorigin_open_connections");
  }
  EXPECT_EQ(in_progress, 1);  // the scrape itself
  EXPECT_EQ(connections, 1);
  EXPECT_EQ(Exchange1(port(), Get(Signed("/w:15/plain/local:///a.jpg"))).status_line,
            "HTTP/1.1 200 OK");
}

}  // namespace
}  // namespace imgorigin::testing
