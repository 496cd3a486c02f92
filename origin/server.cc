#include "origin/server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>

#include "common/fd.h"

namespace imgorigin::origin {
namespace {

using common::ErrorCode;
using common::Fail;

std::string NextRequestId() {
  // A per-process random prefix keeps ids unique across a fleet without coordination.
  static const std::string prefix = [] {
    std::random_device rd;
    char buf[9];
    snprintf(buf, sizeof buf, "%08x", rd());
    return std::string(buf);
  }();
  static std::atomic<uint64_t> counter{0};
  return prefix + "-" + std::to_string(counter.fetch_add(1, std::memory_order_relaxed) + 1);
}

bool IsSafeRequestId(const char* id) {
  size_t n = strlen(id);
  if (n == 0 || n > 64) return false;
  for (size_t i = 0; i < n; ++i) {
    char c = id[i];
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

common::Result<common::UniqueFd> Listen(const std::string& host, uint16_t port) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof(*v4);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof(*v6);
  } else {
    return Fail(ErrorCode::kInternal, "bind address \"" + host + "\" is not an IP address");
  }
  common::UniqueFd socket_fd(socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!socket_fd.valid())
    return Fail(ErrorCode::kInternal, std::string("socket: ") + strerror(errno));
  const int fd = socket_fd.get();
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  // Accepted sockets inherit it on Linux. Without it, a reply that leaves in two writes waits
  // for the client's delayed ACK (40 ms) before its second segment goes out.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd, 1024) != 0) {
    std::string why = strerror(errno);
    return Fail(ErrorCode::kInternal,
                "cannot listen on " + host + ":" + std::to_string(port) + ": " + why);
  }
  return socket_fd;
}

uint16_t BoundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

// Each connection's buffer. libevent writes at most 16 KiB per call by default, so a 100 KB
// image would cost seven writes (and, before TCP_NODELAY, a delayed-ACK stall between them).
bufferevent* NewConnectionBuffer(event_base* base, void* /*arg*/) {
  bufferevent* bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
  if (bev != nullptr) bufferevent_set_max_single_write(bev, 1 << 20);
  return bev;
}

void FreeSharedBytes(const void*, size_t, void* holder) {
  std::unique_ptr<common::SharedBytes>(static_cast<common::SharedBytes*>(holder));
}

}  // namespace

Exchange::Exchange(evhttp_request* req, EventLoop& loop, std::atomic<int64_t>& in_flight)
    : req_(req),
      loop_(loop),
      in_flight_(in_flight),
      target_(evhttp_request_get_uri(req)),
      start_(std::chrono::steady_clock::now()) {
  in_flight_.fetch_add(1);
  const char* incoming = header("X-Request-Id");
  request_id_ = incoming && IsSafeRequestId(incoming) ? incoming : NextRequestId();
}

Exchange::~Exchange() {
  if (!sent_) SendText(500, "internal error: no response was produced");
  in_flight_.fetch_sub(1);
}

bool Exchange::is_head() const { return evhttp_request_get_command(req_) == EVHTTP_REQ_HEAD; }

bool Exchange::is_post() const { return evhttp_request_get_command(req_) == EVHTTP_REQ_POST; }

std::optional<std::string> Exchange::body(size_t limit) const {
  evbuffer* in = evhttp_request_get_input_buffer(req_);
  const size_t length = in ? evbuffer_get_length(in) : 0;
  if (length > limit) return std::nullopt;
  std::string out(length, '\0');
  if (length > 0) evbuffer_copyout(in, out.data(), length);
  return out;
}

bool Exchange::is_get_or_head() const {
  auto cmd = evhttp_request_get_command(req_);
  return cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
}

std::string_view Exchange::path() const {
  return std::string_view(target_).substr(0, target_.find('?'));
}

const char* Exchange::header(const char* name) const {
  return evhttp_find_header(evhttp_request_get_input_headers(req_), name);
}

double Exchange::elapsed_ms() const {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_)
      .count();
}

void Exchange::AddHeader(const char* name, const std::string& value) {
  evhttp_add_header(evhttp_request_get_output_headers(req_), name, value.c_str());
}

void Exchange::Send(int status, const common::SharedBytes& body) {
  if (sent_) return;
  sent_ = true;
  AddHeader("X-Request-Id", request_id_);
  evbuffer* out = evhttp_request_get_output_buffer(req_);
  size_t length = body ? body->size() : 0;
  if (is_head() || status == 304) {
    if (status != 304) AddHeader("Content-Length", std::to_string(length));
  } else if (length > 0) {
    // The reply references the shared bytes; the holder keeps them alive until libevent has
    // written them, even if the cache evicts the entry meanwhile. C callback: owned raw pointer.
    auto* holder = std::make_unique<common::SharedBytes>(body).release();
    evbuffer_add_reference(out, body->data(), length, FreeSharedBytes, holder);
  }
  evhttp_send_reply(req_, status, nullptr, nullptr);
}

void Exchange::SendText(int status, std::string_view text) {
  AddHeader("Content-Type", "text/plain; charset=utf-8");
  Send(status, common::MakeShared(std::string(text)));
}

Server::Server(Options options, Handler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {
  EnableLibeventThreads();
}

Server::~Server() { Stop(); }

common::Result<uint16_t> Server::Start() {
  uint16_t port = options_.port;
  for (size_t i = 0; i < std::max<size_t>(1, options_.loops); ++i) {
    auto fd = Listen(options_.host, port);
    if (!fd) return std::unexpected(fd.error());
    port = BoundPort(fd->get());  // later sockets join the port the first one got
    auto loop = std::make_unique<Loop>();
    loop->owner = this;
    loop->loop = std::make_unique<EventLoop>();
    loop->http.reset(evhttp_new(loop->loop->base()));
    evhttp_set_timeout(loop->http.get(), static_cast<int>(options_.client_timeout.count()));
    evhttp_set_max_headers_size(loop->http.get(),
                                static_cast<ev_ssize_t>(options_.max_headers_size));
    evhttp_set_max_body_size(loop->http.get(), 1 << 20);
    evhttp_set_allowed_methods(loop->http.get(),
                               EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                   EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(loop->http.get(), &Server::OnRequest, loop.get());
    evhttp_set_bevcb(loop->http.get(), &NewConnectionBuffer, nullptr);
    loop->socket = evhttp_accept_socket_with_handle(loop->http.get(), fd->get());
    if (loop->socket == nullptr) {
      return Fail(ErrorCode::kInternal, "evhttp could not accept on the listening socket");
    }
    fd->release();  // evhttp owns it now
    loops_.push_back(std::move(loop));
  }
  // Handler and Server outlive the loops, so the callbacks' back pointer stays valid.
  for (auto& l : loops_) l->loop->Start();
  return port;
}

void Server::OnRequest(evhttp_request* req, void* arg) {
  auto* loop = static_cast<Loop*>(arg);
  Server* server = loop->owner;
  auto exchange = std::make_shared<Exchange>(req, *loop->loop, server->in_flight_);
  server->handler_(exchange);
}

void Server::StopAccepting() {
  for (auto& l : loops_) {
    Loop* raw = l.get();
    l->loop->Post([raw] {
      if (raw->socket) evhttp_del_accept_socket(raw->http.get(), raw->socket);
      raw->socket = nullptr;
    });
  }
}

bool Server::WaitIdle(std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (in_flight_.load() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

void Server::Stop() {
  for (auto& l : loops_) l->loop->Stop();
  for (auto& l : loops_) l->loop->Join();
  // Replies posted after the loops stopped are still written into their connections' buffers
  // (and dropped with them below) so every Exchange is released while its evhttp exists.
  for (auto& l : loops_) l->loop->RunPending();
  loops_.clear();  // frees each evhttp (closing connections) before its event_base
}

}  // namespace imgorigin::origin
