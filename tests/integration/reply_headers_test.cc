// Reply heads as they go on the wire (issue 18, point 4): every header but evhttp's framing ones
// reaches evhttp as one preformatted block (Exchange::Send), and a hot path's memory hit copies
// its block as formatted once. These tests read raw response bytes, so they see what a client
// sees: each header once, the same headers and values whether an answer was rendered, hit memory
// or came from a hot path, and the connection behaviours around them (HEAD, 304, purge,
// pipelining, Connection: close).
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
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

}  // namespace
}  // namespace imgorigin::testing
