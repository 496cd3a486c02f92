#include "origin/server.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <event2/http_struct.h>  // the request version, which evhttp has no setter for
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "origin/http_status.h"
#include "origin/request_head.h"

namespace imgorigin::origin {
namespace {

using common::ErrorCode;
using common::Fail;
using SteadyClock = std::chrono::steady_clock;

// The first pause after accept() fails, doubled on each failure in a row up to the maximum.
constexpr std::chrono::milliseconds kMinAcceptPause{100};
constexpr std::chrono::milliseconds kMaxAcceptPause{1000};
constexpr std::chrono::seconds kAcceptLogEvery{1};

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

// Why `req` cannot be served as framed, or "". evhttp reads the first Content-Length or
// Transfer-Encoding it finds, takes header names up to the colon whatever they contain, and reads
// no body at all for HEAD; a proxy in front may frame the same bytes differently (RFC 9112 §6.3,
// §5.1), and what one of them takes for a body the other takes for a request. So every message
// whose length is not beyond doubt is refused.
std::string Malformation(evhttp_request* req) {
  // evhttp takes any "HTTP/0.x" or "HTTP/1.x" and answers in the version it was sent, so
  // "HTTP/0.1" would get an "HTTP/0.1 400" status line (found by fuzz_http). The answer is
  // HTTP/1.1, and so is every request served.
  if (req->major != 1 || req->minor > 1) {
    req->major = 1;
    req->minor = 1;
    return "bad request: HTTP/1.0 and HTTP/1.1 only";
  }
  // RFC 9112 §3.2: origin servers are sent origin-form; absolute-form is for proxies.
  if (evhttp_request_get_uri(req)[0] != '/') {
    return "bad request: only origin-form request targets (\"/path\") are served";
  }
  int content_lengths = 0;
  int transfer_encodings = 0;
  int hosts = 0;
  std::string_view content_length;
  std::string_view transfer_encoding;
  const evkeyvalq* headers = evhttp_request_get_input_headers(req);
  for (const evkeyval* h = headers->tqh_first; h != nullptr; h = h->next.tqe_next) {
    if (!IsToken(h->key)) return "bad request: malformed header name";
    if (strcasecmp(h->key, "Content-Length") == 0) {
      ++content_lengths;
      content_length = h->value;
    } else if (strcasecmp(h->key, "Transfer-Encoding") == 0) {
      ++transfer_encodings;
      transfer_encoding = h->value;
    } else if (strcasecmp(h->key, "Host") == 0) {
      ++hosts;
    }
  }
  if (content_lengths > 1) return "bad request: more than one Content-Length";
  if (content_lengths == 1 &&
      (content_length.empty() ||
       content_length.find_first_not_of("0123456789") != std::string_view::npos)) {
    return "bad request: Content-Length is not a number";
  }
  if (transfer_encodings > 0) {
    if (content_lengths > 0) return "bad request: both Transfer-Encoding and Content-Length";
    if (transfer_encodings > 1 || strcasecmp(std::string(transfer_encoding).c_str(), "chunked")) {
      return "bad request: the only Transfer-Encoding accepted is \"chunked\"";
    }
  }
  const bool has_body =
      transfer_encodings > 0 || content_length.find_first_not_of('0') != std::string_view::npos;
  const auto command = evhttp_request_get_command(req);
  if (has_body && (command == EVHTTP_REQ_HEAD || command == EVHTTP_REQ_TRACE)) {
    return "bad request: a body on a request that has none";
  }
  if (hosts > 1) return "bad request: more than one Host header";
  return "";
}

struct Address {
  sockaddr_storage storage{};
  socklen_t size = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

common::Result<Address> ParseAddress(const std::string& host, uint16_t port) {
  Address address;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    address.size = sizeof(*v4);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    address.size = sizeof(*v6);
  } else {
    return Fail(ErrorCode::kInternal, "bind address \"" + host + "\" is not an IP address");
  }
  return address;
}

void SetPort(Address& address, uint16_t port) {
  if (address.storage.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&address.storage)->sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in*>(&address.storage)->sin_port = htons(port);
  }
}

common::Result<common::UniqueFd> BoundSocket(const Address& address, bool reuse_port,
                                             const std::string& where) {
  common::UniqueFd fd(
      socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Fail(ErrorCode::kInternal, std::string("socket: ") + strerror(errno));
  int one = 1;
  // Lets a restarted server bind while connections of the previous one sit in TIME_WAIT; it
  // never lets two sockets listen on one port (SO_REUSEPORT is what does).
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port) setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (bind(fd.get(), address.get(), address.size) != 0) {
    const int error = errno;
    return Fail(ErrorCode::kInternal,
                "cannot listen on " + where + ": " +
                    (error == EADDRINUSE ? std::string("the address is already in use")
                                         : std::string(strerror(error))));
  }
  return fd;
}

common::Result<common::UniqueFd> Listen(const Address& address, const std::string& where) {
  auto fd = BoundSocket(address, /*reuse_port=*/true, where);
  if (!fd) return fd;
  int one = 1;
  // Accepted sockets inherit it on Linux. Without it, a reply that leaves in two writes waits
  // for the client's delayed ACK (40 ms) before its second segment goes out.
  setsockopt(fd->get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (listen(fd->get(), 1024) != 0) {
    return Fail(ErrorCode::kInternal, "cannot listen on " + where + ": " + strerror(errno));
  }
  return fd;
}

// Two servers started at once on one address could both find it free (the check in Start())
// before either binds it, and then share it through SO_REUSEPORT. An abstract Unix socket named
// after the address serialises them: binding the name is atomic and the kernel releases it when
// the process ends, however it ends. Invalid (no lock) where no such socket can be made; the
// check in Start() still holds then, only without this guard against a simultaneous start.
common::Result<common::UniqueFd> LockAddress(const std::string& where) {
  common::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return fd;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string name = "imgorigin listening on " + where;
  // sun_path[0] stays '\0': the abstract namespace, no file.
  const size_t size = std::min(name.size(), sizeof(addr.sun_path) - 1);
  memcpy(addr.sun_path + 1, name.data(), size);
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + size);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), length) == 0) return fd;
  if (errno == EADDRINUSE) {
    return Fail(ErrorCode::kInternal, "cannot listen on " + where +
                                          ": the address is already in use by another imgorigin");
  }
  return common::UniqueFd();
}

uint16_t BoundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

timeval ToTimeval(std::chrono::microseconds duration) {
  duration = std::max(duration, std::chrono::microseconds(0));
  return timeval{static_cast<time_t>(duration.count() / 1'000'000),
                 static_cast<suseconds_t>(duration.count() % 1'000'000)};
}

// Today's Date value as evhttp formats it, made once a second on each thread.
std::string_view CurrentHttpDate() {
  thread_local time_t second = -1;
  thread_local char text[64];
  thread_local size_t size = 0;
  const time_t now = time(nullptr);
  if (now != second) {
    tm utc{};
    gmtime_r(&now, &utc);
    size = evutil_date_rfc1123(text, sizeof text, &utc);
    second = now;
  }
  return std::string_view(text, size);
}

// Hands the formatted header lines `block` ("Name: value\r\n"…) to evhttp as one header entry,
// which evhttp_make_header() prints as "key: value\r\n": the key is "Date" (unless the handler
// set Date) and the value the date followed by the block's lines, or else the block's first name
// and the rest. The entry is built here rather than by evhttp_add_header(), which refuses line
// breaks in a value; evhttp frees it with the request (free(), as it allocates its own).
void AddBlockEntry(evkeyvalq* headers, std::string_view block, bool date_set) {
  if (block.size() >= 2) block.remove_suffix(2);  // the last line's CRLF: evhttp adds one
  std::string_view key = "Date";
  std::string_view head = CurrentHttpDate();
  if (date_set) {  // the block's first line becomes the entry's key and value
    if (block.empty()) return;
    const size_t colon = block.find(": ");  // AppendHeader() wrote every line
    const size_t end = std::min(block.find("\r\n"), block.size());
    key = block.substr(0, colon);
    head = block.substr(colon + 2, end - colon - 2);
    block.remove_prefix(std::min(end + 2, block.size()));
  }
  const std::string_view separator = block.empty() ? "" : "\r\n";
  auto* entry = static_cast<evkeyval*>(calloc(1, sizeof(evkeyval)));
  char* name = entry != nullptr ? strndup(key.data(), key.size()) : nullptr;
  const size_t size = head.size() + separator.size() + block.size();
  auto* value = name != nullptr ? static_cast<char*>(malloc(size + 1)) : nullptr;
  if (value == nullptr) {  // out of memory: the reply goes without these headers
    free(name);
    free(entry);
    return;
  }
  char* at = std::copy(head.begin(), head.end(), value);
  at = std::copy(separator.begin(), separator.end(), at);
  *std::copy(block.begin(), block.end(), at) = '\0';
  entry->key = name;
  entry->value = value;
  // TAILQ_INSERT_TAIL, which keyvalq_struct.h does not define.
  entry->next.tqe_next = nullptr;
  entry->next.tqe_prev = headers->tqh_last;
  *headers->tqh_last = entry;
  headers->tqh_last = &entry->next.tqe_next;
}

void FreeSharedBytes(const void*, size_t, void* holder) {
  std::unique_ptr<common::SharedBytes>(static_cast<common::SharedBytes*>(holder));
}

// evhttp keeps the listener's one callback argument (its evhttp) for itself, so the accept-error
// callback finds its loop in this table. Written when a loop binds or drops its socket.
class ListenerLoops {
 public:
  void Add(evconnlistener* listener, void* loop) {
    std::lock_guard lock(mu_);
    loops_[listener] = loop;
  }
  void Remove(evconnlistener* listener) {
    std::lock_guard lock(mu_);
    loops_.erase(listener);
  }
  void* Find(evconnlistener* listener) {
    std::lock_guard lock(mu_);
    auto found = loops_.find(listener);
    return found == loops_.end() ? nullptr : found->second;
  }

 private:
  std::mutex mu_;
  std::unordered_map<evconnlistener*, void*> loops_;
};

ListenerLoops& Listeners() {
  static ListenerLoops listeners;
  return listeners;
}

// The loop running on this thread, set as it accepts a connection. evhttp makes a loop's
// requests on that loop's thread, so the request hook finds its loop here, without a lock on
// every request.
thread_local void* tls_loop = nullptr;

std::string_view PathOf(evhttp_request* req) {
  std::string_view uri = evhttp_request_get_uri(req);
  return uri.substr(0, uri.find('?'));
}

// Removes every `name` header, so evhttp reads no body for the request.
void RemoveAll(evkeyvalq* headers, const char* name) {
  while (evhttp_remove_header(headers, name) == 0) {
  }
}

}  // namespace

// One accepted connection, from OnAccept() to OnClose(). Owned by its loop and keyed by the
// connection's bufferevent, through which evhttp's request callbacks find it.
//
// libevent 2.1 tells nobody about a connection between its accept and its first request (2.2 has
// evhttp_set_newreqcb), and only the connection's close callback says when it is freed. So
// OnAccept() keeps a reference on the bufferevent it creates, and on the loop's next turn, once
// evhttp has built its connection around it and before anything is read, Adopt() finds that
// connection as the argument of the bufferevent's callbacks (evhttp passes it there), sets the
// close callback and drops the reference. From then on OnClose() frees this state with the
// connection, so no timer outlives its bufferevent.
// The streamed body of the request a connection is reading (Options::streaming), from its head
// to its hand-over in OnRequest(). The file is removed unless handed over.
struct Server::Upload {
  ~Upload() {
    if (!path.empty()) ::unlink(path.c_str());
  }

  // The request as the Exchange takes it; the file is the Exchange's from then on.
  StreamedRequest Take() {
    StreamedRequest taken{std::move(malformed), std::move(refused), nullptr};
    if (write_failed && !taken.refused) {
      taken.refused = common::Error{ErrorCode::kUnavailable, "the upload could not be spooled"};
    }
    if (!taken.refused && !path.empty()) {
      taken.body = std::make_shared<const storage::SpilledFile>(std::exchange(path, ""), bytes);
    }
    return taken;
  }

  evhttp_request* req = nullptr;
  std::string malformed;
  std::optional<common::Error> refused;
  std::string path;  // the temporary file, "" when there is none
  common::UniqueFd fd;
  int64_t bytes = 0;
  bool write_failed = false;  // the rest of the body is read and dropped
};

struct Server::Connection : std::enable_shared_from_this<Server::Connection> {
  enum class Phase {
    kHead,     // a request is arriving, against the header deadline
    kBody,     // a streamed body is arriving, against the upload deadline
    kRequest,  // a request is being answered
    kIdle,     // kept alive between requests: evhttp's client timeout applies
  };

  Connection(Loop& l, bufferevent* b) : loop(l), bev(b) { bufferevent_incref(bev); }
  ~Connection() {
    if (input_watch != nullptr) evbuffer_remove_cb_entry(bufferevent_get_input(bev), input_watch);
    if (evcon == nullptr) bufferevent_decref(bev);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Loop& loop;
  bufferevent* bev;
  evhttp_connection* evcon = nullptr;  // set by Adopt()
  Phase phase = Phase::kHead;
  SteadyClock::time_point head_deadline;
  // Fires once at once for Adopt(), then at each request's header deadline.
  common::Handle<event, event_free> timer;
  evbuffer_cb_entry* input_watch = nullptr;  // tells OnInput() a request began
  std::unique_ptr<Upload> upload;            // the streamed body being read, if any

  // Direct requests (Server::ServeDirect). evhttp is between requests (waiting for a first line,
  // nothing of it read): the next bytes may be read here instead.
  bool between_requests = true;
  enum class Direct {
    kNone,       // evhttp's connection
    kAnswering,  // a direct request is being answered
    kWriting,    // its reply is partly written; the rest is in the bufferevent's output
  };
  Direct direct = Direct::kNone;
  bool serving = false;  // ServeDirect() is running: it goes on to the next request itself
  // evhttp's bufferevent callbacks, kept while the connection is taken from it (TakeOver()).
  bool taken = false;
  bufferevent_data_cb evhttp_read = nullptr;
  bufferevent_data_cb evhttp_write = nullptr;
  bufferevent_event_cb evhttp_event = nullptr;
  void* evhttp_arg = nullptr;
};

// A request the server read itself: its head, and the connection its reply goes to.
struct Exchange::Direct {
  RequestHead head;
  std::weak_ptr<Server::Connection> connection;
  std::string framing;  // the framing headers set (AddHeader), formatted "Name: value\r\n"
};

struct Server::Loop {
  ~Loop() {
    if (socket != nullptr) Listeners().Remove(evhttp_bound_socket_get_listener(socket));
    // evhttp_free() closes the listener before the connections, whose OnClose() must not touch
    // it any more.
    socket = nullptr;
    http.reset();
  }

  Server* owner = nullptr;
  std::unique_ptr<EventLoop> loop;
  size_t max_connections = 0;
  std::unordered_map<bufferevent*, std::shared_ptr<Connection>> connections;
  // While accept() fails, accepting pauses, and this timer resumes it.
  common::Handle<event, event_free> resume_accept;
  bool accept_paused = false;
  std::chrono::milliseconds next_pause = kMinAcceptPause;
  bool accepting = true;  // whether the listener is enabled
  evhttp_bound_socket* socket = nullptr;
  common::Handle<evhttp, evhttp_free> http;
};

Exchange::Exchange(evhttp_request* req, EventLoop& loop, std::atomic<int64_t>& in_flight,
                   std::optional<StreamedRequest> streamed, const ReplyObserver* observer)
    : req_(req),
      loop_(loop),
      in_flight_(in_flight),
      target_(evhttp_request_get_uri(req)),
      // A streamed request's framing headers may be gone (OnHead()): judged as it arrived.
      malformed_(streamed ? streamed->malformed : Malformation(req)),
      streamed_(std::move(streamed)),
      start_(std::chrono::steady_clock::now()),
      observer_(observer != nullptr && *observer ? observer : nullptr) {
  Begin();
}

Exchange::Exchange(std::unique_ptr<Direct> direct, EventLoop& loop, std::atomic<int64_t>& in_flight,
                   const ReplyObserver* observer)
    : direct_(std::move(direct)),
      loop_(loop),
      in_flight_(in_flight),
      target_(direct_->head.target),
      start_(std::chrono::steady_clock::now()),
      observer_(observer != nullptr && *observer ? observer : nullptr) {
  Begin();
}

void Exchange::Begin() {
  in_flight_.fetch_add(1);
  const char* incoming = header("X-Request-Id");
  request_id_ = incoming && IsSafeRequestId(incoming) ? incoming : NextRequestId();
  // Set here rather than by whoever answers, so no reply can forget it. A request answered from
  // its head leaves its body unread on the connection, where it must never be read as a request.
  if (!malformed_.empty() || (streamed_ && streamed_->refused)) AddHeader("Connection", "close");
}

Exchange::~Exchange() {
  if (!sent_) SendText(500, "internal error: no response was produced");
}

evhttp_cmd_type Exchange::command() const {
  return direct_ ? direct_->head.method : evhttp_request_get_command(req_);
}

bool Exchange::is_head() const { return command() == EVHTTP_REQ_HEAD; }

bool Exchange::is_post() const { return command() == EVHTTP_REQ_POST; }

bool Exchange::is_put() const { return command() == EVHTTP_REQ_PUT; }

bool Exchange::is_delete() const { return command() == EVHTTP_REQ_DELETE; }

std::optional<std::string> Exchange::body(size_t limit) const {
  evbuffer* in = direct_ ? nullptr : evhttp_request_get_input_buffer(req_);
  const size_t length = in ? evbuffer_get_length(in) : 0;
  if (length > limit) return std::nullopt;
  std::string out(length, '\0');
  if (length > 0) evbuffer_copyout(in, out.data(), length);
  return out;
}

bool Exchange::is_get_or_head() const {
  auto cmd = command();
  return cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
}

std::string_view Exchange::path() const {
  return std::string_view(target_).substr(0, target_.find('?'));
}

const char* Exchange::header(const char* name) const {
  if (direct_) return direct_->head.Find(name);
  return evhttp_find_header(evhttp_request_get_input_headers(req_), name);
}

double Exchange::elapsed_ms() const {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_)
      .count();
}

const char* Exchange::method() const {
  switch (command()) {
    case EVHTTP_REQ_GET:
      return "GET";
    case EVHTTP_REQ_HEAD:
      return "HEAD";
    case EVHTTP_REQ_POST:
      return "POST";
    case EVHTTP_REQ_PUT:
      return "PUT";
    case EVHTTP_REQ_DELETE:
      return "DELETE";
    case EVHTTP_REQ_OPTIONS:
      return "OPTIONS";
    case EVHTTP_REQ_PATCH:
      return "PATCH";
    default:
      return "OTHER";
  }
}

std::string_view Exchange::client_address() const {
  evhttp_connection* evcon = nullptr;
  if (!direct_) {
    evcon = evhttp_request_get_connection(req_);
  } else if (auto connection = direct_->connection.lock()) {
    evcon = connection->evcon;
  }
  if (evcon == nullptr) return "";
  char* address = nullptr;
  ev_uint16_t port = 0;
  evhttp_connection_get_peer(evcon, &address, &port);
  return address != nullptr ? std::string_view(address) : std::string_view();
}

void Exchange::SetXCache(const std::string& value) {
  x_cache_ = value;
  AddHeader("X-Cache", value);
}

bool Exchange::IsFramingHeader(std::string_view name) {
  for (std::string_view framing :
       {"Content-Type", "Content-Length", "Transfer-Encoding", "Connection", "Date"}) {
    if (name.size() == framing.size() && strncasecmp(name.data(), framing.data(), name.size()) == 0) {
      return true;
    }
  }
  return false;
}

bool Exchange::AppendHeader(std::string& block, std::string_view name, std::string_view value) {
  return !IsFramingHeader(name) && FormatHeader(block, name, value);
}

bool Exchange::FormatHeader(std::string& block, std::string_view name, std::string_view value) {
  if (!IsToken(name) ||
      value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
    return false;
  }
  block.append(name).append(": ").append(value).append("\r\n");
  return true;
}

void Exchange::AddHeader(const char* name, const std::string& value) {
  if (!IsFramingHeader(name)) {
    AppendHeader(header_block_, name, value);
    return;
  }
  if (direct_) {
    if (!FormatHeader(direct_->framing, name, value)) return;
  } else if (evhttp_add_header(evhttp_request_get_output_headers(req_), name, value.c_str()) != 0) {
    return;
  }
  if (strcasecmp(name, "Content-Type") == 0) content_type_ = value;
  if (strcasecmp(name, "Date") == 0) date_set_ = true;
}

void Exchange::Send(int status, const common::SharedBytes& body) {
  if (sent_) return;
  sent_ = true;
  // Answered: no longer in flight, even while a worker's closure still holds the exchange (a
  // render's waiters are let go by the CPU thread that finished it, at its lower priority).
  in_flight_.fetch_sub(1);
  AddHeader("X-Request-Id", request_id_);
  size_t length = body ? body->size() : 0;
  // What evhttp would add itself for a GET, it finds here; 1xx, 204 and 304 have none.
  const bool bodiless = status < 200 || status == 204 || status == 304;
  if (!bodiless) AddHeader("Content-Length", std::to_string(length));
  const bool with_body = !is_head() && !bodiless && length > 0;
  if (observer_ != nullptr) (*observer_)(*this, ReplyFacts{status, length, content_type_.c_str()});
  if (direct_) {
    // The head as evhttp_make_header() writes it, with the block entry (AddBlockEntry()).
    std::string head = "HTTP/1.1 ";
    head.append(std::to_string(status)).append(" ").append(ReasonPhrase(status)).append("\r\n");
    head.append(direct_->framing);
    if (!date_set_) head.append("Date: ").append(CurrentHttpDate()).append("\r\n");
    head.append(header_block_).append("\r\n");
    if (auto connection = direct_->connection.lock()) {
      Server::WriteDirect(*connection, std::move(head), with_body ? body : nullptr);
    }
    return;
  }
  if (with_body) {
    evbuffer* out = evhttp_request_get_output_buffer(req_);
    // The reply references the shared bytes; the holder keeps them alive until libevent has
    // written them, even if the cache evicts the entry meanwhile. C callback: owned raw pointer.
    auto* holder = std::make_unique<common::SharedBytes>(body).release();
    evbuffer_add_reference(out, body->data(), length, FreeSharedBytes, holder);
  }
  AddBlockEntry(evhttp_request_get_output_headers(req_), header_block_, date_set_);
  evhttp_send_reply(req_, status, ReasonPhrase(status), nullptr);
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
  auto address = ParseAddress(options_.host, options_.port);
  if (!address) return std::unexpected(address.error());
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  if (options_.port != 0) {
    auto lock = LockAddress(where);
    if (!lock) return std::unexpected(lock.error());
    address_lock_ = *std::move(lock);
    // The loops' sockets set SO_REUSEPORT to share the port among themselves, which would as
    // well let them join the listening sockets of another process that set it (another
    // imgorigin), and both would then serve half the traffic. A socket without SO_REUSEPORT
    // cannot bind while anything listens on the address, so this one tells.
    auto probe = BoundSocket(*address, /*reuse_port=*/false, where);
    if (!probe) return std::unexpected(probe.error());
  }
  const size_t loops = std::max<size_t>(1, options_.loops);
  uint16_t port = options_.port;
  for (size_t i = 0; i < loops; ++i) {
    auto fd = Listen(*address, where);
    if (!fd) return std::unexpected(fd.error());
    port = BoundPort(fd->get());
    SetPort(*address, port);  // later sockets join the port the first one got
    auto loop = std::make_unique<Loop>();
    loop->owner = this;
    loop->loop = std::make_unique<EventLoop>();
    loop->max_connections = std::max<size_t>(
        1, options_.max_connections / loops + (i < options_.max_connections % loops ? 1 : 0));
    loop->resume_accept.reset(evtimer_new(loop->loop->base(), &Server::OnAcceptResume, loop.get()));
    loop->http.reset(evhttp_new(loop->loop->base()));
    evhttp_set_timeout(loop->http.get(), static_cast<int>(options_.client_timeout.count()));
    evhttp_set_max_headers_size(loop->http.get(),
                                static_cast<ev_ssize_t>(options_.max_headers_size));
    evhttp_set_max_body_size(loop->http.get(), kMaxBufferedBody);
    evhttp_set_allowed_methods(loop->http.get(),
                               EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                   EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    // No Content-Type for a reply that sets none, whichever path it takes.
    evhttp_set_default_content_type(loop->http.get(), nullptr);
    evhttp_set_gencb(loop->http.get(), &Server::OnRequest, loop.get());
    evhttp_set_bevcb(loop->http.get(), &Server::OnAccept, loop.get());
    loop->socket = evhttp_accept_socket_with_handle(loop->http.get(), fd->get());
    if (loop->socket == nullptr) {
      return Fail(ErrorCode::kInternal, "evhttp could not accept on the listening socket");
    }
    fd->release();  // evhttp owns it now
    evconnlistener* listener = evhttp_bound_socket_get_listener(loop->socket);
    evconnlistener_set_error_cb(listener, &Server::OnAcceptError);
    Listeners().Add(listener, loop.get());
    loops_.push_back(std::move(loop));
  }
  // Handler and Server outlive the loops, so the callbacks' back pointer stays valid.
  for (auto& l : loops_) l->loop->Start();
  return port;
}

bufferevent* Server::OnAccept(event_base* base, void* arg) {
  Loop& loop = *static_cast<Loop*>(arg);
  tls_loop = &loop;
  bufferevent* bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
  if (bev == nullptr) return nullptr;
  // libevent writes at most 16 KiB per call by default, so a 100 KB image would cost seven
  // writes (and, before TCP_NODELAY, a delayed-ACK stall between them).
  bufferevent_set_max_single_write(bev, 1 << 20);
  auto connection = std::make_shared<Connection>(loop, bev);
  connection->timer.reset(event_new(base, -1, 0, &Server::OnConnectionTimer, connection.get()));
  connection->input_watch =
      evbuffer_add_cb(bufferevent_get_input(bev), &Server::OnInput, connection.get());
  if (!connection->timer || connection->input_watch == nullptr) return bev;  // out of memory
  connection->head_deadline = SteadyClock::now() + loop.owner->options_.header_timeout;
  event_active(connection->timer.get(), EV_TIMEOUT, 0);  // Adopt() on the next turn
  loop.connections.emplace(bev, std::move(connection));
  loop.owner->open_connections_.fetch_add(1, std::memory_order_relaxed);
  loop.next_pause = kMinAcceptPause;
  UpdateListener(loop);
  return bev;
}

void Server::OnConnectionTimer(evutil_socket_t, short, void* arg) {
  Connection& connection = *static_cast<Connection*>(arg);
  if (connection.evcon == nullptr) {
    bufferevent_event_cb event_cb = nullptr;
    void* evcon = nullptr;
    bufferevent_getcb(connection.bev, nullptr, nullptr, &event_cb, &evcon);
    if (event_cb != nullptr) return Adopt(connection, static_cast<evhttp_connection*>(evcon));
    // evhttp gave the connection up while setting it up and freed it, but for our reference.
    return Forget(connection);
  }
  // The request did not arrive in time. Failing the bufferevent makes evhttp drop the connection
  // without an answer, which ends in OnClose(): `connection` is gone after this call.
  bufferevent_trigger_event(connection.bev, BEV_EVENT_ERROR | BEV_EVENT_READING, 0);
}

void Server::Adopt(Connection& connection, evhttp_connection* evcon) {
  connection.evcon = evcon;
  evhttp_connection_set_closecb(evcon, &Server::OnClose, &connection);
  bufferevent_decref(connection.bev);  // evhttp's own reference keeps it from here on
  StartHeaderDeadline(connection, std::chrono::duration_cast<std::chrono::milliseconds>(
                                      connection.head_deadline - SteadyClock::now()));
}

void Server::StartHeaderDeadline(Connection& connection, std::chrono::milliseconds left) {
  connection.phase = Connection::Phase::kHead;
  connection.head_deadline = SteadyClock::now() + left;
  const timeval tv = ToTimeval(left);
  evtimer_add(connection.timer.get(), &tv);
}

// Called as bytes arrive (inside the bufferevent's read, before evhttp's read callback sees them)
// and as they are drained.
void Server::OnInput(evbuffer*, const evbuffer_cb_info* info, void* arg) {
  Connection& connection = *static_cast<Connection*>(arg);
  if (info->n_added == 0 || connection.direct != Connection::Direct::kNone) return;
  if (connection.between_requests && info->orig_size == 0 && ServeDirect(connection)) return;
  connection.between_requests = false;
  if (connection.phase == Connection::Phase::kIdle) {
    StartHeaderDeadline(connection, connection.loop.owner->options_.header_timeout);
  }
}

bool Server::ServeDirect(Connection& connection) {
  Loop& loop = connection.loop;
  const Options& options = loop.owner->options_;
  if (connection.evcon == nullptr) return false;
  evbuffer* input = bufferevent_get_input(connection.bev);
  connection.serving = true;
  bool left_nothing = true;
  bool served = false;
  while (size_t available = evbuffer_get_length(input)) {
    const size_t size = std::min(available, options.max_headers_size);
    const auto* bytes = reinterpret_cast<const char*>(evbuffer_pullup(input, size));
    auto direct = std::make_unique<Exchange::Direct>();
    const size_t head = bytes != nullptr ? ReadRequestHead({bytes, size}, size, direct->head) : 0;
    if (head == 0) {
      left_nothing = false;
      break;
    }
    evbuffer_drain(input, head);
    served = true;
    direct->connection = connection.weak_from_this();
    connection.direct = Connection::Direct::kAnswering;
    connection.phase = Connection::Phase::kRequest;
    event_del(connection.timer.get());
    loop.owner->handler_(std::make_shared<Exchange>(std::move(direct), *loop.loop,
                                                    loop.owner->in_flight_, &options.on_reply));
    if (connection.direct != Connection::Direct::kNone) {  // answered later, or still writing
      TakeOver(connection);
      break;
    }
  }
  connection.serving = false;
  // Between requests again (what is left, if anything, is evhttp's, and OnInput() starts its
  // header deadline); a connection that has served nothing keeps the deadline it has.
  if (served && connection.direct == Connection::Direct::kNone) {
    connection.phase = Connection::Phase::kIdle;
  }
  return left_nothing || connection.direct != Connection::Direct::kNone;
}

void Server::TakeOver(Connection& connection) {
  if (connection.taken) return;
  connection.taken = true;
  bufferevent_getcb(connection.bev, &connection.evhttp_read, &connection.evhttp_write,
                    &connection.evhttp_event, &connection.evhttp_arg);
  // evhttp's error callback stays: a failed or timed-out write closes the connection as before.
  bufferevent_setcb(connection.bev, nullptr, &Server::OnDirectWritten, connection.evhttp_event,
                    connection.evhttp_arg);
  bufferevent_disable(connection.bev, EV_READ);
}

void Server::WriteDirect(Connection& connection, std::string head,
                         const common::SharedBytes& body) {
  if (connection.direct != Connection::Direct::kAnswering) return;
  std::string_view rest[2] = {head, body ? std::string_view(body->data(), body->size()) : ""};
  ssize_t written = 0;
  do {
    iovec parts[2] = {{const_cast<char*>(rest[0].data()), rest[0].size()},
                      {const_cast<char*>(rest[1].data()), rest[1].size()}};
    msghdr message{};
    message.msg_iov = parts;
    message.msg_iovlen = rest[1].empty() ? 1 : 2;
    written = sendmsg(bufferevent_getfd(connection.bev), &message, MSG_NOSIGNAL);
  } while (written < 0 && errno == EINTR);
  if (written < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
    // The client is gone. evhttp closes the connection on the next turn of the loop (a close
    // now would free it under whoever called): until then it stays taken, nothing more is read.
    connection.direct = Connection::Direct::kWriting;
    TakeOver(connection);
    bufferevent_trigger_event(connection.bev, BEV_EVENT_ERROR | BEV_EVENT_WRITING,
                              BEV_TRIG_DEFER_CALLBACKS);
    return;
  }
  size_t done = written > 0 ? static_cast<size_t>(written) : 0;
  for (auto& part : rest) {
    const size_t taken = std::min(done, part.size());
    part.remove_prefix(taken);
    done -= taken;
  }
  if (rest[0].empty() && rest[1].empty()) {
    connection.direct = Connection::Direct::kNone;
    if (!connection.serving) FinishDirect(connection);
    return;
  }
  // The socket is full: the rest goes out through the bufferevent, and OnDirectWritten() follows.
  evbuffer* output = bufferevent_get_output(connection.bev);
  evbuffer_add(output, rest[0].data(), rest[0].size());
  if (!rest[1].empty()) {
    auto* holder = std::make_unique<common::SharedBytes>(body).release();
    evbuffer_add_reference(output, rest[1].data(), rest[1].size(), FreeSharedBytes, holder);
  }
  connection.direct = Connection::Direct::kWriting;
  TakeOver(connection);
  bufferevent_enable(connection.bev, EV_WRITE);
}

void Server::OnDirectWritten(bufferevent* bev, void*) {
  auto* loop = static_cast<Loop*>(tls_loop);
  if (loop == nullptr) return;
  auto found = loop->connections.find(bev);
  if (found == loop->connections.end()) return;
  Connection& connection = *found->second;
  if (connection.direct != Connection::Direct::kWriting ||
      evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
    return;
  }
  bufferevent_disable(bev, EV_WRITE);
  connection.direct = Connection::Direct::kNone;
  FinishDirect(connection);
}

// A direct reply has left (and no ServeDirect() is running): the connection goes back to evhttp,
// and what arrived meanwhile is read, directly or by evhttp.
void Server::FinishDirect(Connection& connection) {
  if (connection.taken) {
    connection.taken = false;
    bufferevent_setcb(connection.bev, connection.evhttp_read, connection.evhttp_write,
                      connection.evhttp_event, connection.evhttp_arg);
    bufferevent_enable(connection.bev, EV_READ);
  }
  connection.between_requests = true;
  connection.phase = Connection::Phase::kIdle;
  if (evbuffer_get_length(bufferevent_get_input(connection.bev)) == 0 || ServeDirect(connection)) {
    return;
  }
  // A request that is not a direct one (or not whole yet) waits: evhttp reads it on the next
  // turn (not from here, under whoever sent the reply).
  connection.between_requests = false;
  StartHeaderDeadline(connection, connection.loop.owner->options_.header_timeout);
  bufferevent_trigger(connection.bev, EV_READ,
                      BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void Server::OnRequest(evhttp_request* req, void* arg) {
  Loop& loop = *static_cast<Loop*>(arg);
  evhttp_connection* evcon = evhttp_request_get_connection(req);
  std::optional<StreamedRequest> streamed;
  if (auto found = loop.connections.find(evhttp_connection_get_bufferevent(evcon));
      found != loop.connections.end()) {
    Connection& connection = *found->second;
    if (connection.evcon == nullptr) Adopt(connection, evcon);
    event_del(connection.timer.get());
    connection.phase = Connection::Phase::kRequest;
    evhttp_request_set_on_complete_cb(req, &Server::OnReplySent, &connection);
    if (connection.upload && connection.upload->req == req) {
      streamed = connection.upload->Take();
      connection.upload.reset();
    }
  }
  auto exchange = std::make_shared<Exchange>(req, *loop.loop, loop.owner->in_flight_,
                                             std::move(streamed), &loop.owner->options_.on_reply);
  loop.owner->handler_(exchange);
}

// libevent 2.1 has no hook between a request's head and its body (2.2 adds evhttp_set_newreqcb
// for that): a server sees a request only once evhttp has buffered its whole body. Every request
// evhttp makes goes through evhttp_request_new(), which libevent calls through the dynamic
// linker, so the executable defines it (exported, see origin/CMakeLists.txt), lets libevent's
// own make the request, and gives requests of this server's loops a header callback. Where that
// does not take (a libevent linked so that its calls bind internally), nothing breaks: bodies
// are buffered as before, at most kMaxBufferedBody bytes, and handed over in memory.
void Server::OnNewRequest(evhttp_request* req, void* http) {
  const auto* loop = static_cast<const Loop*>(tls_loop);
  if (loop != nullptr && loop->http.get() == http) {
    evhttp_request_set_header_cb(req, &Server::OnHead);
  }
}

int Server::OnHead(evhttp_request* req, void* http) {
  auto* loop = static_cast<Loop*>(tls_loop);
  if (loop == nullptr || loop->http.get() != http) return 0;
  evhttp_connection* evcon = evhttp_request_get_connection(req);
  auto found = loop->connections.find(evhttp_connection_get_bufferevent(evcon));
  if (found == loop->connections.end()) return 0;
  Connection& connection = *found->second;
  if (connection.evcon == nullptr) Adopt(connection, evcon);
  const Options::Streaming& streaming = loop->owner->options_.streaming;
  connection.upload.reset();
  if (!streaming.streams || !streaming.streams(evhttp_request_get_command(req), PathOf(req))) {
    evhttp_connection_set_max_body_size(evcon, kMaxBufferedBody);
    return 0;
  }
  auto upload = std::make_unique<Upload>();
  upload->req = req;
  upload->malformed = Malformation(req);
  evkeyvalq* headers = evhttp_request_get_input_headers(req);
  int64_t limit = 0;
  if (upload->malformed.empty()) {
    if (auto admitted = streaming.admit(evhttp_request_get_uri(req), headers)) {
      limit = *admitted;
    } else {
      upload->refused = admitted.error();
    }
  }
  if (upload->malformed.empty() && !upload->refused) {
    if (const char* length = evhttp_find_header(headers, "Content-Length")) {
      const std::string_view text(length);
      int64_t declared = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), declared);
      if (ec == std::errc::result_out_of_range || (ec == std::errc() && declared > limit)) {
        upload->refused =
            common::Error{ErrorCode::kTooLarge, "the request body is " + std::string(text) +
                                                    " bytes, over the upload limit of " +
                                                    std::to_string(limit) + " bytes"};
      }
    }
  }
  if (upload->malformed.empty() && !upload->refused) {
    std::string path = streaming.temp_dir + "/imgorigin-upload-XXXXXX";
    common::UniqueFd fd(::mkostemp(path.data(), O_CLOEXEC));
    if (fd.valid()) {
      upload->path = std::move(path);
      upload->fd = std::move(fd);
    } else {
      spdlog::error("cannot create an upload file in {}: {}", streaming.temp_dir, strerror(errno));
      upload->refused = common::Error{ErrorCode::kUnavailable, "uploads cannot be taken now"};
    }
  }
  if (!upload->malformed.empty() || upload->refused) {
    // Answered from the head: told that there is no body, evhttp hands the request over at once
    // and never reads the rest, and the reply closes the connection (Exchange).
    RemoveAll(headers, "Content-Length");
    RemoveAll(headers, "Transfer-Encoding");
  } else {
    evhttp_request_set_chunked_cb(req, &Server::OnBodyChunk);
    // A chunked body is only known to be too long as it grows: evhttp stops reading it there.
    evhttp_connection_set_max_body_size(evcon, limit);
    connection.phase = Connection::Phase::kBody;
    const timeval tv = ToTimeval(streaming.timeout);
    evtimer_add(connection.timer.get(), &tv);
  }
  connection.upload = std::move(upload);
  return 0;
}

void Server::OnBodyChunk(evhttp_request* req, void* http) {
  auto* loop = static_cast<Loop*>(tls_loop);
  if (loop == nullptr || loop->http.get() != http) return;
  auto found =
      loop->connections.find(evhttp_connection_get_bufferevent(evhttp_request_get_connection(req)));
  if (found == loop->connections.end()) return;
  Upload* upload = found->second->upload.get();
  if (upload == nullptr || upload->req != req) return;
  evbuffer* in = evhttp_request_get_input_buffer(req);
  upload->bytes += static_cast<int64_t>(evbuffer_get_length(in));
  // Written on the loop, as nginx writes request bodies to its temporary files: a write to the
  // page cache costs microseconds, and handing each chunk to another thread would need its own
  // flow control against evhttp's reads.
  while (!upload->write_failed && evbuffer_get_length(in) > 0) {
    if (evbuffer_write(in, upload->fd.get()) <= 0 && errno != EINTR) {
      spdlog::error("cannot write an upload file: {}", strerror(errno));
      upload->write_failed = true;
    }
  }
  // evhttp drains what is left, so a failed upload is read to its end and dropped.
}

void Server::OnReplySent(evhttp_request*, void* arg) {
  Connection& connection = *static_cast<Connection*>(arg);
  // A pipelined request may be waiting already (evhttp reads it); otherwise the next deadline
  // starts with the next request's first byte (OnInput), which may be a direct request's.
  if (evbuffer_get_length(bufferevent_get_input(connection.bev)) > 0) {
    StartHeaderDeadline(connection, connection.loop.owner->options_.header_timeout);
  } else {
    connection.phase = Connection::Phase::kIdle;
    connection.between_requests = true;
  }
}

void Server::OnClose(evhttp_connection*, void* arg) {
  Forget(*static_cast<Connection*>(arg));
}

void Server::Forget(Connection& connection) {
  Loop& loop = connection.loop;
  loop.connections.erase(connection.bev);  // `connection` is gone from here on
  loop.owner->open_connections_.fetch_sub(1, std::memory_order_relaxed);
  UpdateListener(loop);
}

void Server::UpdateListener(Loop& loop) {
  if (loop.socket == nullptr) return;
  const bool accept = loop.connections.size() < loop.max_connections && !loop.accept_paused;
  if (accept == loop.accepting) return;
  loop.accepting = accept;
  evconnlistener* listener = evhttp_bound_socket_get_listener(loop.socket);
  if (accept) {
    evconnlistener_enable(listener);
  } else {
    evconnlistener_disable(listener);
  }
}

void Server::OnAcceptError(evconnlistener* listener, void*) {
  const int error = EVUTIL_SOCKET_ERROR();
  auto* loop = static_cast<Loop*>(Listeners().Find(listener));
  if (loop == nullptr) return;
  // Retrying at once fails at once (EMFILE, ENFILE, ENOBUFS: the listener stays readable), so
  // the loop would spin; a pause lets connections close and free what accept() needs.
  loop->owner->LogAcceptError(error, loop->next_pause);
  loop->accept_paused = true;
  UpdateListener(*loop);
  const timeval tv = ToTimeval(loop->next_pause);
  evtimer_add(loop->resume_accept.get(), &tv);
  loop->next_pause = std::min(loop->next_pause * 2, kMaxAcceptPause);
}

void Server::OnAcceptResume(evutil_socket_t, short, void* arg) {
  Loop& loop = *static_cast<Loop*>(arg);
  loop.accept_paused = false;
  UpdateListener(loop);
}

void Server::LogAcceptError(int error, std::chrono::milliseconds pause) {
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(SteadyClock::now().time_since_epoch())
          .count();
  int64_t last = accept_error_logged_.load(std::memory_order_relaxed);
  if (now - last < kAcceptLogEvery.count() ||
      !accept_error_logged_.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
    accept_errors_unlogged_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const bool descriptors = error == EMFILE || error == ENFILE;
  spdlog::error("accept failed: {}{}; not accepting for {} ms ({} more failure(s) not logged)",
                strerror(error),
                descriptors ? " (raise the descriptor limit, ulimit -n, or lower "
                              "server.max_connections)"
                            : "",
                pause.count(), accept_errors_unlogged_.exchange(0, std::memory_order_relaxed));
}

void Server::StopAccepting() {
  for (auto& l : loops_) {
    Loop* raw = l.get();
    l->loop->Post([raw] {
      if (raw->socket == nullptr) return;
      Listeners().Remove(evhttp_bound_socket_get_listener(raw->socket));
      evhttp_del_accept_socket(raw->http.get(), raw->socket);
      raw->socket = nullptr;
      event_del(raw->resume_accept.get());
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

extern "C" evhttp_request* evhttp_request_new(void (*cb)(evhttp_request*, void*), void* arg) {
  using Make = evhttp_request* (*)(void (*)(evhttp_request*, void*), void*);
  static const Make make = reinterpret_cast<Make>(dlsym(RTLD_NEXT, "evhttp_request_new"));
  evhttp_request* req = make(cb, arg);
  if (req != nullptr) imgorigin::origin::Server::OnNewRequest(req, arg);
  return req;
}
