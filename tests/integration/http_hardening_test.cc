// The HTTP layer against hostile or careless clients (issue 13): If-None-Match: *, URL length on
// hot paths, purge of a percent-escaped source, a FIFO in the local root. Raw sockets where the
// request is one a well-behaved client library would not send.
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

// One client connection that writes exactly the bytes given and reads whatever comes back.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port) : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    connected_ = connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }

  bool connected() const { return connected_; }

  bool Send(std::string_view bytes) {
    return send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }

  // Reads until `until` has arrived `times` times in all, the server closes, or `limit` passes;
  // returns everything read so far.
  const std::string& ReadUntil(std::string_view until, std::chrono::milliseconds limit,
                               int times = 1) {
    const auto deadline = Clock::now() + limit;
    while (!closed_ && Count(until) < times && Clock::now() < deadline) ReadFor(deadline);
    return received_;
  }

  // True when the server closed the connection within `limit`.
  bool WaitClosed(std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (!closed_ && Clock::now() < deadline) ReadFor(deadline);
    return closed_;
  }

  bool closed() const { return closed_; }
  const std::string& received() const { return received_; }

 private:
  int Count(std::string_view needle) const {
    int n = 0;
    for (size_t at = received_.find(needle); at != std::string::npos;
         at = received_.find(needle, at + 1)) {
      ++n;
    }
    return n;
  }

  void ReadFor(Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{fd_.get(), POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count()))) <= 0) return;
    char buf[4096];
    ssize_t n = recv(fd_.get(), buf, sizeof buf, 0);
    if (n <= 0) {
      closed_ = true;
      return;
    }
    received_.append(buf, static_cast<size_t>(n));
  }

  common::UniqueFd fd_;
  bool connected_ = false;
  bool closed_ = false;
  std::string received_;
};

// The status code of the first response in `bytes`; 0 if there is none.
int StatusOf(const std::string& bytes) {
  if (!bytes.starts_with("HTTP/1.") || bytes.size() < 12) return 0;
  return std::stoi(bytes.substr(9, 3));
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
