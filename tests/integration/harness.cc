#include "tests/integration/harness.h"

#include <curl/curl.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "signing/base64url.h"
#include "signing/signer.h"

namespace imgorigin::testing {
namespace {

size_t OnBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* out) {
  std::string line(data, size * n);
  auto* headers = static_cast<decltype(HttpResponse::headers)*>(out);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    (*headers)[line.substr(0, colon)] = value;
  }
  return size * n;
}

std::vector<char*> CStrings(std::vector<std::string>& items) {
  std::vector<char*> out;
  for (auto& s : items) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::vector<std::string> ChildEnv(const std::map<std::string, std::string>& env) {
  std::vector<std::string> out;
  // The sanitizer settings say how the binary under test runs (halt on error, suppressions), not
  // what it serves: a sanitizer build's server must run with the same ones as its tests.
  for (const char* name : {"PATH", "HOME", "TMPDIR", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                           "LSAN_OPTIONS"}) {
    if (const char* v = getenv(name)) out.push_back(std::string(name) + "=" + v);
  }
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

// `err_fd`: stderr on a pipe of its own (else inherited, or merged into stdout).
pid_t Spawn(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
            int* out_fd, bool merge_stderr, int* err_fd = nullptr) {
  int fds[2];
  int errs[2] = {-1, -1};
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  if (err_fd != nullptr && pipe2(errs, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> argv_s = {IMGORIGIN_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<std::string> env_s = ChildEnv(env);
  auto argv = CStrings(argv_s);
  auto envp = CStrings(env_s);
  pid_t pid = fork();
  if (pid == 0) {
    // A session of its own, as a service or a container gives it a scheduling group of its own:
    // its idle-class render threads (server.render_idle) then yield to its own event loops, not
    // to whatever else the test run keeps busy (with autogroup, a session is such a group).
    setsid();
    dup2(fds[1], STDOUT_FILENO);
    if (merge_stderr) dup2(fds[1], STDERR_FILENO);
    if (errs[1] >= 0) dup2(errs[1], STDERR_FILENO);
    if (chdir(IMGORIGIN_SOURCE_DIR) != 0) _exit(127);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(fds[1]);
  *out_fd = fds[0];
  if (err_fd != nullptr) {
    close(errs[1]);
    *err_fd = errs[0];
  }
  return pid;
}

// Reads what is available from `fd` into `out` for up to `ms`; false on EOF.
bool ReadSome(int fd, std::string* out, int ms) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, ms) <= 0) return true;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n <= 0) return false;
  out->append(buf, static_cast<size_t>(n));
  return true;
}

int WaitExit(pid_t pid, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    usleep(10'000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

}  // namespace

bool CaseLess::operator()(const std::string& a, const std::string& b) const {
  return strcasecmp(a.c_str(), b.c_str()) < 0;
}

std::string HttpResponse::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

HttpResponse HttpRequest(uint16_t port, const std::string& target,
                         const std::vector<std::string>& headers, const std::string& method,
                         const std::string& body) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CurlPtr curl(curl_easy_init());
  SlistPtr list;
  for (const auto& h : headers) list.reset(curl_slist_append(list.release(), h.c_str()));
  HttpResponse response;
  std::string url = "http://127.0.0.1:" + std::to_string(port) + target;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "HEAD") curl_easy_setopt(curl.get(), CURLOPT_NOBODY, 1L);
  if (method == "POST" || method == "PUT") {
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.data());
  }
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, list.get());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &response.headers);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  if (curl_easy_perform(curl.get()) == CURLE_OK) {
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &response.status);
  }
  return response;
}

OriginProcess::OriginProcess(const std::map<std::string, std::string>& env,
                             const std::vector<std::string>& args) {
  pid_ = Spawn(args, env, &stdout_fd_, /*merge_stderr=*/false);
  // `imgorigin worker` listens nowhere: it says when its workers run.
  const bool worker = !args.empty() && args[0] == "worker";
  const std::string marker = worker ? "imgorigin worker running" : "listening on http://";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    bool open = ReadSome(stdout_fd_, &output_, 100);
    size_t at = output_.find(marker);
    size_t eol = at == std::string::npos ? at : output_.find('\n', at);
    if (eol != std::string::npos) {
      started_ = true;
      if (worker) return;
      std::string host_port = output_.substr(at + marker.size(), eol - at - marker.size());
      port_ = static_cast<uint16_t>(std::stoi(host_port.substr(host_port.rfind(':') + 1)));
      return;
    }
    if (!open) break;
  }
  exit_status_ = WaitExit(pid_, std::chrono::seconds(5));
  exited_ = true;
}

OriginProcess::~OriginProcess() {
  // A server that does not exit cleanly on SIGTERM failed, whatever the test saw before: a crash
  // or hang while shutting down, or a sanitizer report (leaks are reported at exit).
  const bool running = started() && !exited_;
  const int status = Stop();
  if (running) {
    EXPECT_EQ(status, 0) << "imgorigin did not exit cleanly on SIGTERM (see its stderr)";
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

int OriginProcess::Stop() {
  if (!exited_) {
    kill(pid_, SIGTERM);
    exit_status_ = WaitExit(pid_, std::chrono::seconds(30));
    exited_ = true;
  }
  return exit_status_;
}

const std::string& OriginProcess::DrainOutput(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (stdout_fd_ >= 0 && std::chrono::steady_clock::now() < deadline &&
         ReadSome(stdout_fd_, &output_, 100)) {
  }
  return output_;
}

int RunBinary(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
              std::string* out, std::chrono::seconds limit, std::string* err) {
  int fd = -1;
  int err_fd = -1;
  pid_t pid = Spawn(args, env, &fd, /*merge_stderr=*/err == nullptr, err ? &err_fd : nullptr);
  auto deadline = std::chrono::steady_clock::now() + limit;
  bool open = true;
  bool err_open = err != nullptr;
  while (std::chrono::steady_clock::now() < deadline && (open || err_open)) {
    if (open) open = ReadSome(fd, out, err_open ? 10 : 100);
    if (err_open) err_open = ReadSome(err_fd, err, 10);
  }
  close(fd);
  if (err_fd >= 0) close(err_fd);
  return WaitExit(pid, std::chrono::seconds(5));
}

pid_t SpawnBinary(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                  int* out_fd, bool merge_stderr) {
  return Spawn(args, env, out_fd, merge_stderr);
}

std::string Signed(const std::string& path) {
  signing::Config config;
  config.keys.push_back({*signing::HexDecode(kKeyHex), *signing::HexDecode(kSaltHex)});
  return "/" + signing::Signer(config).Sign(path) + path;
}

std::string MakeTempDir() {
  const char* base = getenv("TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/imgorigin-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

vips::VImage Decode(const std::string& bytes) {
  return vips::VImage::new_from_buffer(bytes.data(), bytes.size(), "",
                                       vips::VImage::option()->set("access", VIPS_ACCESS_RANDOM))
      .copy_memory();
}

std::string LoaderOf(const std::string& bytes) {
  const char* loader = vips_foreign_find_load_buffer(bytes.data(), bytes.size());
  if (loader == nullptr) return "";
  // "VipsForeignLoadPngBuffer" → its nickname "pngload_buffer" → "pngload".
  std::string nickname = vips_nickname_find(g_type_from_name(loader));
  return nickname.substr(0, nickname.find("_buffer"));
}

double MeanAbsDiff(const vips::VImage& a, const vips::VImage& b) {
  auto normalise = [](vips::VImage im) {
    if (im.has_alpha()) im = im.flatten(vips::VImage::option()->set("background", 255));
    im = im.colourspace(VIPS_INTERPRETATION_sRGB);
    if (im.bands() > 3) im = im.extract_band(0, vips::VImage::option()->set("n", 3));
    return im.cast(VIPS_FORMAT_UCHAR);
  };
  return (normalise(a) - normalise(b)).abs().avg();
}

bool InCi() {
  const char* ci = getenv("CI");
  return ci != nullptr && (std::string(ci) == "true" || std::string(ci) == "1");
}

namespace {

std::string FindBinary(const std::string& name) {
  std::string dirs = getenv("PATH") ? getenv("PATH") : "";
  dirs += ":/usr/sbin:/usr/bin:/usr/local/bin:/usr/local/sbin";
  std::istringstream in(dirs);
  std::string dir;
  while (std::getline(in, dir, ':')) {
    if (dir.empty()) continue;
    std::string path = dir + "/" + name;
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

std::string TalkTo(uint16_t port, const std::string& request, const std::string& until,
                   int timeout_ms) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  std::string reply;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (reply.find(until) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      if (!ReadSome(fd, &reply, 50)) break;
    }
  }
  close(fd);
  return reply;
}

}  // namespace

RawConnection::RawConnection(uint16_t port)
    : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  connected_ = connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

bool RawConnection::Send(std::string_view bytes) {
  return send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
         static_cast<ssize_t>(bytes.size());
}

bool RawConnection::SendUnlessAnswered(std::string_view bytes) {
  while (!bytes.empty()) {
    pollfd p{fd_.get(), POLLOUT | POLLIN, 0};
    if (poll(&p, 1, 2000) <= 0 || (p.revents & (POLLIN | POLLERR | POLLHUP))) return false;
    const ssize_t n = send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

const std::string& RawConnection::ReadUntil(std::string_view until,
                                            std::chrono::milliseconds limit, int times) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!closed_ && Count(until) < times && std::chrono::steady_clock::now() < deadline) {
    ReadFor(deadline);
  }
  return received_;
}

bool RawConnection::WaitClosed(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!closed_ && std::chrono::steady_clock::now() < deadline) ReadFor(deadline);
  return closed_;
}

void RawConnection::ResetOnClose() {
  linger abort{1, 0};
  setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
}

int RawConnection::Count(std::string_view needle) const {
  int n = 0;
  for (size_t at = received_.find(needle); at != std::string::npos;
       at = received_.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

void RawConnection::ReadFor(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  pollfd p{fd_.get(), POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count()))) <= 0) return;
  char buf[4096];
  const ssize_t n = recv(fd_.get(), buf, sizeof buf, 0);
  if (n <= 0) {
    closed_ = true;
    return;
  }
  received_.append(buf, static_cast<size_t>(n));
}

uint16_t FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

ServiceProcess::~ServiceProcess() { Kill(); }

void ServiceProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string ServiceProcess::Talk(const std::string& request, const std::string& until) const {
  return TalkTo(port_, request, until, 5000);
}

void ServiceProcess::Start(const std::string& binary,
                           const std::function<std::vector<std::string>(uint16_t)>& make_args,
                           const std::string& probe, const std::string& expect) {
  const std::string path = FindBinary(binary);
  if (path.empty()) {
    error_ = binary + " not found (scripts/setup installs it)";
    return;
  }
  // Another process may take the port between our probe and the server's bind: retry.
  for (int attempt = 0; attempt < 3; ++attempt) {
    const uint16_t port = want_port_ != 0 ? want_port_ : FreeLoopbackPort();
    std::vector<std::string> args = {path};
    for (auto& a : make_args(port)) args.push_back(std::move(a));
    auto argv = CStrings(args);
    pid_t pid = fork();
    if (pid == 0) {
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, STDOUT_FILENO);
      dup2(devnull, STDERR_FILENO);
      execv(argv[0], argv.data());
      _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) break;  // exited: port taken or bad args
      if (TalkTo(port, probe, expect, 200).find(expect) != std::string::npos) {
        pid_ = pid;
        port_ = port;
        return;
      }
      usleep(20'000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  error_ = binary + " did not start on a loopback port";
}

RedisProcess::RedisProcess(const std::string& password, uint16_t port) : password_(password) {
  want_port_ = port;
  Start(
      "redis-server",
      [&password](uint16_t port) {
        std::vector<std::string> args = {"--port", std::to_string(port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no",
                                         "--daemonize", "no", "--loglevel", "warning"};
        if (!password.empty()) args.insert(args.end(), {"--requirepass", password});
        return args;
      },
      // Answered with +PONG, or -NOAUTH when a password is set: either way it is up.
      "PING\r\n", "\r\n");
}

std::string RedisProcess::url(int db) const {
  return "redis://" + (password_.empty() ? "" : ":" + password_ + "@") + "127.0.0.1:" +
         std::to_string(port()) + "/" + std::to_string(db);
}

MemcachedProcess::MemcachedProcess() {
  Start(
      "memcached",
      [](uint16_t port) {
        std::vector<std::string> args = {"-l", "127.0.0.1", "-p", std::to_string(port), "-U", "0",
                                         "-m", "64"};
        // memcached refuses to run as root unless told which user to be.
        if (getuid() == 0) args.insert(args.end(), {"-u", "root"});
        return args;
      },
      "version\r\n", "VERSION");
}

double Metric(const std::string& body, const std::string& name_and_labels) {
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name_and_labels + " ", 0) == 0) {
      return std::stod(line.substr(name_and_labels.size() + 1));
    }
  }
  return -1;
}

}  // namespace imgorigin::testing
