// Node.js stub servers for the source tests (tests/integration/*_stub.mjs): started as child
// processes, they bind loopback port 0 and print their ports as one JSON line; they exit when
// their stdin closes, so a crashed test never leaves one behind. Header-only so the shared
// harness stays untouched. Test threads only.
#pragma once

#include <curl/curl.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace imgorigin::testing {

// Under CI a missing stub dependency (node, tests/node_modules) fails the test; locally it skips.
inline bool StubsRequired() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && (std::string(ci) == "true" || std::string(ci) == "1");
}

class NodeStub {
 public:
  // Runs `node tests/integration/<script> <args…>` and waits (at most 60 s: seeding a large
  // object takes a while) for its JSON line of ports.
  NodeStub(const std::string& script, const std::vector<std::string>& args) {
    int out[2];
    int in[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(in, O_CLOEXEC) != 0) {
      error_ = "pipe failed";
      return;
    }
    std::vector<std::string> argv_s = {"node",
                                       std::string(IMGORIGIN_SOURCE_DIR) + "/tests/integration/" + script};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      execvp("node", argv.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_fd_ = in[1];
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out[0], POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      char buf[512];
      ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
    static const std::regex kPort("\"([a-z0-9]+)\":([0-9]+)");
    for (std::sregex_iterator it(line.begin(), line.end(), kPort), end; it != end; ++it) {
      ports_[(*it)[1]] = static_cast<uint16_t>(std::stoi((*it)[2]));
    }
    if (ports_.empty()) {
      error_ = "node stub " + script +
               " did not start (is Node.js installed and tests/node_modules set up? run "
               "scripts/setup)";
    }
  }

  ~NodeStub() {
    if (stdin_fd_ >= 0) close(stdin_fd_);
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      usleep(20'000);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  NodeStub(const NodeStub&) = delete;
  NodeStub& operator=(const NodeStub&) = delete;

  bool started() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  uint16_t port(const std::string& name) const {
    auto it = ports_.find(name);
    return it == ports_.end() ? 0 : it->second;
  }

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::string error_;
  std::map<std::string, uint16_t> ports_;
};

#define IMGORIGIN_REQUIRE_STUB(stub)                                          \
  do {                                                                        \
    if (!(stub).started()) {                                                  \
      if (::imgorigin::testing::StubsRequired()) FAIL() << (stub).error();    \
      GTEST_SKIP() << (stub).error();                                         \
    }                                                                         \
  } while (0)

// GET http://host:port/__stats (the stubs' JSON counters).
inline std::string StubStats(uint16_t port, const std::string& host = "127.0.0.1") {
  CurlPtr curl(curl_easy_init());
  std::string body;
  std::string url = "http://" + host + ":" + std::to_string(port) + "/__stats";
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION,
                   +[](char* data, size_t size, size_t n, void* out) {
                     static_cast<std::string*>(out)->append(data, size * n);
                     return size * n;
                   });
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_perform(curl.get());
  return body;
}

// The number after "key": in a stubs' stats JSON; 0 when absent. `key` is matched literally.
inline long StatCount(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  size_t at = json.find(needle);
  if (at == std::string::npos) return 0;
  return std::strtol(json.c_str() + at + needle.size(), nullptr, 10);
}

// Percent-encodes `url` for a plain/ source: everything but unreserved characters, "/" and ":".
inline std::string EscapePlain(const std::string& url) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : url) {
    if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/' || c == ':') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace imgorigin::testing
