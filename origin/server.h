// The HTTP front: N libevent loops, each with its own evhttp and its own listening socket, all
// bound to one port with SO_REUSEPORT so the kernel spreads connections across loops. Start()
// refuses a port another process listens on, so no second server can join the group.
//
// Each loop guards itself against hostile clients: a request's head must arrive within
// Options::header_timeout however slowly it trickles in, the loop stops accepting while it holds
// its share of Options::max_connections, and while accept() fails (descriptors exhausted) it
// pauses accepting with a back-off instead of retrying at once.
//
// Upload bodies (Options::streaming) are not buffered: from the end of the head they go to a
// temporary file as they arrive, under their own deadline instead of the header deadline, and a
// declared length over the limit (or a head the streaming policy refuses) is answered from the
// head alone, without reading the body, on a connection that then closes.
//
// Direct requests: a plain GET or HEAD (origin/request_head.h) whose whole head is in the buffer
// when evhttp is between requests is read by the server itself as it arrives, answered by the
// same handler, and its reply written to the socket at once in one sendmsg, as nginx does: no
// evhttp request, no event changes, no wait for the next turn of the loop. Everything else (a
// body, Connection: close, HTTP/1.0, anything in doubt) goes to evhttp as before. While a direct
// request is answered, or its reply has not all left, the connection is taken from evhttp (its
// callbacks are set aside and reading stops), so no reply overtakes another. Both kinds answer
// with the same bytes but for the Date.
//
// The replies of evhttp's requests go out through it; what it would do per header (allocate
// name and value, validate, printf each) is done once per reply instead: the headers evhttp does
// not read back are formatted into one block, handed to it as a single header entry
// (Exchange::Send()), which is also the order a direct reply writes them in.
//
// Each request becomes an Exchange owned by shared_ptr: the loop that accepted it is the only
// thread that touches it; workers hold a reference and Post() back to exchange.loop() to answer.
// Server is driven from the main thread: Start(); at the end StopAccepting(), WaitIdle() for
// in-flight requests, stop whatever still posts to the loops (the CPU pool), then Stop().
#pragma once

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/listener.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/fd.h"
#include "common/handle.h"
#include "common/status.h"
#include "origin/event_loop.h"
#include "storage/spilled_file.h"

namespace imgorigin::origin {

// What the server learnt about a streamed request (Server::Options::streaming) before handing
// it over.
struct StreamedRequest {
  std::string malformed;                 // Malformation of the head as it arrived, or ""
  std::optional<common::Error> refused;  // set: answered from the head, the body was never read
  std::shared_ptr<const storage::SpilledFile> body;  // the whole body, unless refused
};

class Exchange;

// What an answered request was, handed to Server::Options::on_reply once its reply is queued.
struct ReplyFacts {
  int status = 0;
  size_t bytes = 0;               // body bytes (what a GET would get, for HEAD too)
  const char* content_type = "";  // "" when the reply has none
};
using ReplyObserver = std::function<void(const Exchange&, const ReplyFacts&)>;

class Exchange {
 public:
  // `observer` may be null; it outlives the exchange.
  Exchange(evhttp_request* req, EventLoop& loop, std::atomic<int64_t>& in_flight,
           std::optional<StreamedRequest> streamed = std::nullopt,
           const ReplyObserver* observer = nullptr);
  // A request the server read itself (a direct request: see Server).
  struct Direct;
  Exchange(std::unique_ptr<Direct> direct, EventLoop& loop, std::atomic<int64_t>& in_flight,
           const ReplyObserver* observer);
  ~Exchange();  // answers 500 if the handler never replied (a bug, but never a hung client)
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // Why the request cannot be served as it was framed (ambiguous length, a target that is not
  // origin-form, …), or "" when it can. A malformed request's connection closes after the reply,
  // so nothing after it on the connection is ever read as a request.
  const std::string& malformed() const { return malformed_; }
  bool is_head() const;
  bool is_get_or_head() const;
  bool is_post() const;
  bool is_put() const;
  bool is_delete() const;
  // The request body, or nullopt when it is longer than `limit` bytes. Empty for a streamed
  // request: see streamed().
  std::optional<std::string> body(size_t limit) const;
  // Set for requests whose body was streamed to a file (Server::Options::streaming).
  const std::optional<StreamedRequest>& streamed() const { return streamed_; }
  std::string_view target() const { return target_; }  // raw request target, query included
  std::string_view path() const;                       // target up to '?'
  const char* header(const char* name) const;          // nullptr if absent
  const std::string& request_id() const { return request_id_; }
  double elapsed_ms() const;
  EventLoop& loop() const { return loop_; }
  const char* method() const;  // "GET", "HEAD", …
  // The client's address as evhttp saw it ("" when unknown).
  std::string_view client_address() const;

  // What the access log and metrics report about the request, set by whoever knows it: the
  // router's classification (origin/metrics.h Route), the X-Cache value (SetXCache also adds the
  // header) and a render's fetch and transform times (negative = none).
  void set_route(uint8_t route) { route_ = route; }
  uint8_t route() const { return route_; }
  void SetXCache(const std::string& value);
  const std::string& x_cache() const { return x_cache_; }
  void SetRenderTimes(double fetch_ms, double transform_ms) {
    fetch_ms_ = fetch_ms;
    transform_ms_ = transform_ms;
  }
  double fetch_ms() const { return fetch_ms_; }
  double transform_ms() const { return transform_ms_; }

  // Adds a reply header. A header that is not valid (a name that is not a token, a value with a
  // line break or NUL) is dropped, as evhttp_add_header() drops it. The headers evhttp itself
  // reads back while sending (IsFramingHeader) become evhttp header entries; every other one is
  // formatted at once into one header block (see Send()).
  void AddHeader(const char* name, const std::string& value);
  // Appends headers formatted before by AppendHeader(): a reply sent many times (a hot path's
  // memory hit) formats them once and copies them here in one go.
  void AddHeaderBlock(std::string_view block) { header_block_.append(block); }
  // Formats "name: value\r\n" onto `block` for AddHeaderBlock(). False, and nothing appended, for
  // a header AddHeader() would drop or one that must stay an evhttp entry (IsFramingHeader).
  static bool AppendHeader(std::string& block, std::string_view name, std::string_view value);
  // Content-Type, Content-Length, Transfer-Encoding, Connection, Date: what evhttp looks up in a
  // reply's headers to decide its framing, its defaults and whether the connection closes.
  static bool IsFramingHeader(std::string_view name);
  // Sends the response; `body` is referenced, not copied. HEAD gets the headers only, with the
  // Content-Length the body would have. Only the first Send counts. evhttp prints each header
  // entry with its own printf and allocates each twice, so the block of formatted headers goes
  // to evhttp as the value of one entry named "Date" (the date, then the block's lines), which
  // also spares evhttp making its own Date: three entries for a typical image reply instead of
  // fourteen.
  void Send(int status, const common::SharedBytes& body);
  void SendText(int status, std::string_view text);

 private:
  void Begin();  // what both constructors do last
  // AppendHeader() for any header, framing ones included (a direct reply's framing headers).
  static bool FormatHeader(std::string& block, std::string_view name, std::string_view value);
  evhttp_cmd_type command() const;

  evhttp_request* req_ = nullptr;  // evhttp's request; null for a direct one
  std::unique_ptr<Direct> direct_;
  EventLoop& loop_;
  std::atomic<int64_t>& in_flight_;
  std::string target_;
  std::string request_id_;
  std::string malformed_;
  std::optional<StreamedRequest> streamed_;
  std::chrono::steady_clock::time_point start_;
  const ReplyObserver* observer_;
  std::string x_cache_;
  std::string content_type_;  // the reply's, for the observer
  std::string header_block_;  // "Name: value\r\n" lines: every header but the framing ones
  bool date_set_ = false;     // a handler set Date itself
  double fetch_ms_ = -1;
  double transform_ms_ = -1;
  uint8_t route_ = 0;
  bool sent_ = false;
};

using ExchangePtr = std::shared_ptr<Exchange>;

class Server {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    uint16_t port = 0;
    size_t loops = 1;
    std::chrono::seconds client_timeout{30};
    // From a connection's accept, or from the first byte of a kept-alive connection's next
    // request, until the request has fully arrived (head and body, which is at most 1 MiB).
    std::chrono::milliseconds header_timeout{10'000};
    // Open connections, split evenly across the loops (at least one each).
    size_t max_connections = 10'000;
    size_t max_headers_size = 16 << 10;

    // Requests whose bodies are streamed to a file: `streams` sees the method and path (the
    // target up to "?") of every head and says yes for the upload endpoints; null = none. Every
    // other body is buffered in memory, at most kMaxBufferedBody bytes.
    struct Streaming {
      std::function<bool(evhttp_cmd_type method, std::string_view path)> streams;
      // From the end of the head until the whole body has arrived; then the connection closes.
      std::chrono::milliseconds timeout{120'000};
      std::string temp_dir = "/tmp";
      // Sees the head of a streamed request (its target, query included, and headers) before
      // any body byte is read (the loop's thread) and answers the longest body this request may
      // have: a longer declared length is refused there (kTooLarge), a chunked body is cut off
      // once it grows past it. An Error refuses the request from the head; its body is never
      // read. Required with `streams`.
      std::function<common::Result<int64_t>(std::string_view target, const evkeyvalq* headers)>
          admit;
    };
    Streaming streaming;
    // Told about every answered request on its loop's thread (access log, metrics); null = none.
    ReplyObserver on_reply;
  };
  static constexpr size_t kMaxBufferedBody = 1 << 20;
  using Handler = std::function<void(const ExchangePtr&)>;

  Server(Options options, Handler handler);
  ~Server();

  // Binds and starts the loops; returns the port actually bound.
  common::Result<uint16_t> Start();

  // Closes the listening sockets; open connections keep being served.
  void StopAccepting();
  // Waits until no request is in flight, or `limit` passed. True when idle.
  bool WaitIdle(std::chrono::milliseconds limit);
  // Stops and joins the loops, runs what was still posted to them, closes every connection.
  // Nothing may Post() to the loops any more (shut the CPU pool down first).
  void Stop();

  int64_t in_flight() const { return in_flight_.load(); }
  // Accepted connections not closed yet, on every loop.
  int64_t open_connections() const { return open_connections_.load(std::memory_order_relaxed); }

 private:
  friend class Exchange;  // a direct request's reply (WriteDirect())
  struct Connection;
  struct Loop;
  struct Upload;

 public:
  // Called by the evhttp_request_new hook (server.cc) for every request evhttp creates.
  static void OnNewRequest(evhttp_request* req, void* http);

 private:
  // evhttp's callbacks, on the loop's thread.
  static bufferevent* OnAccept(event_base* base, void* loop);
  static void OnRequest(evhttp_request* req, void* loop);
  static int OnHead(evhttp_request* req, void* http);
  static void OnBodyChunk(evhttp_request* req, void* http);
  static void OnReplySent(evhttp_request* req, void* connection);
  static void OnClose(evhttp_connection* evcon, void* connection);
  static void OnInput(evbuffer* input, const evbuffer_cb_info* info, void* connection);
  // Direct requests: ServeDirect() answers those at the front of the input (true: it left evhttp
  // nothing to read now); WriteDirect() sends a reply (Exchange::Send()), writing what the socket
  // takes at once; TakeOver() keeps evhttp off the connection until FinishDirect().
  static bool ServeDirect(Connection& connection);
  static void WriteDirect(Connection& connection, std::string head,
                          const common::SharedBytes& body);
  static void TakeOver(Connection& connection);
  static void OnDirectWritten(bufferevent* bev, void*);
  static void FinishDirect(Connection& connection);
  static void OnConnectionTimer(evutil_socket_t, short, void* connection);
  static void OnAcceptError(evconnlistener* listener, void* http);
  static void OnAcceptResume(evutil_socket_t, short, void* loop);
  static void Adopt(Connection& connection, evhttp_connection* evcon);
  static void StartHeaderDeadline(Connection& connection, std::chrono::milliseconds left);
  static void UpdateListener(Loop& loop);
  // Drops a connection's state (it is closed or was never taken over by evhttp).
  static void Forget(Connection& connection);
  void LogAcceptError(int error, std::chrono::milliseconds pause);

  Options options_;
  Handler handler_;
  // Held while serving: see LockAddress() in server.cc.
  common::UniqueFd address_lock_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> open_connections_{0};
  std::atomic<int64_t> accept_error_logged_{0};  // steady seconds of the last log line
  std::atomic<uint64_t> accept_errors_unlogged_{0};
};

}  // namespace imgorigin::origin
