#include "tests/integration/postgres_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"

namespace imgorigin::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// IMGORIGIN_PG_BINDIR, or else the newest /usr/lib/postgresql/<version>/bin holding initdb and
// postgres; "" when there is none.
std::string FindBindir() {
  if (const char* dir = getenv("IMGORIGIN_PG_BINDIR")) {
    return access((std::string(dir) + "/initdb").c_str(), X_OK) == 0 ? dir : "";
  }
  std::string best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string name = entry.path().filename().string();
    const fs::path bin = entry.path() / "bin";
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (access((bin / "initdb").c_str(), X_OK) != 0 || access((bin / "postgres").c_str(), X_OK)) {
      continue;
    }
    if (std::stoi(name) > best_version) {
      best_version = std::stoi(name);
      best = bin.string();
    }
  }
  return best;
}

// Runs argv[0] with `args`, output appended to `log`, as uid/gid when `switch_user`. The child
// gets SIGQUIT (PostgreSQL's immediate shutdown) when the test process dies.
pid_t Spawn(const std::vector<std::string>& args, const std::string& log, bool switch_user,
            uid_t uid, gid_t gid) {
  std::vector<std::string> owned = args;
  std::vector<char*> argv;
  for (auto& a : owned) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string env_strings[] = {"LC_ALL=C", "LANG=C", "PATH=/usr/bin:/bin", "TZ=UTC"};
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) return pid;
  // Child: only async-signal-safe calls from here on.
  const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  const int in = open("/dev/null", O_RDONLY);
  if (out < 0 || in < 0) _exit(126);
  dup2(in, STDIN_FILENO);
  dup2(out, STDOUT_FILENO);
  dup2(out, STDERR_FILENO);
  if (switch_user && (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) {
    _exit(126);
  }
  // After setuid: a change of credentials clears the parent-death signal.
  prctl(PR_SET_PDEATHSIG, SIGQUIT);
  if (getppid() != parent) _exit(0);
  execve(argv[0], argv.data(), envp.data());
  _exit(127);
}

// Waits for `pid` up to `limit`; its exit code, or -1 if it had to be killed or died by a signal.
int Reap(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  int status = 0;
  while (Clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

bool Answers(uint16_t port) {
  const std::string p = std::to_string(port);
  const char* const keys[] = {"host", "port", "user", "dbname", "connect_timeout", nullptr};
  const char* const values[] = {"127.0.0.1", p.c_str(), "postgres", "postgres", "2", nullptr};
  return PQpingParams(keys, values, 0) == PQPING_OK;
}

std::string Tail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream all;
  all << in.rdbuf();
  std::string text = all.str();
  return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
}

// Every process whose parent is `parent`.
std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so parse after the last ')'.
    std::istringstream rest(line.substr(line.rfind(')') + 1));
    char state = 0;
    pid_t ppid = 0;
    if (rest >> state >> ppid && ppid == parent) out.push_back(std::stoi(name));
  }
  return out;
}

}  // namespace

PostgresProcess::PostgresProcess() {
  bindir_ = FindBindir();
  if (bindir_.empty()) {
    error_ =
        "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin "
        "(scripts/setup installs Debian's postgresql; IMGORIGIN_PG_BINDIR overrides)";
    return;
  }
  dir_ = MakeTempDir();
  fs::create_directories(dir_ + "/sock");
  if (geteuid() == 0) {
    const passwd* user = getpwnam("postgres");
    if (user == nullptr) user = getpwnam("nobody");
    if (user == nullptr) {
      error_ = "running as root and neither a postgres nor a nobody user exists";
      return;
    }
    switch_user_ = true;
    uid_ = user->pw_uid;
    gid_ = user->pw_gid;
    for (const char* path : {"", "/sock"}) {
      if (chown((dir_ + path).c_str(), uid_, gid_) != 0) {
        error_ = "cannot hand " + dir_ + path + " to the PostgreSQL user";
        return;
      }
    }
  }
  const std::string log = dir_ + "/initdb.log";
  const pid_t initdb =
      Spawn({bindir_ + "/initdb", "-D", dir_ + "/data", "-U", "postgres", "--auth=trust",
             "--locale=C", "--encoding=UTF8", "--no-sync", "--no-instructions"},
            log, switch_user_, uid_, gid_);
  if (Reap(initdb, std::chrono::seconds(90)) != 0) {
    error_ = "initdb failed:\n" + Tail(log);
    return;
  }
  // Another process may take the port between our probe and the server's bind: retry.
  for (int attempt = 0; attempt < 3 && !initialised_; ++attempt) {
    port_ = FreeLoopbackPort();
    initialised_ = Launch();
  }
}

PostgresProcess::~PostgresProcess() {
  Thaw();
  Stop();
  if (!dir_.empty()) {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
}

std::string PostgresProcess::conninfo() const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=postgres";
}

bool PostgresProcess::Launch() {
  const std::string log = dir_ + "/server.log";
  pid_ = Spawn({bindir_ + "/postgres", "-D", dir_ + "/data", "-p", std::to_string(port_), "-c",
                "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + dir_ + "/sock",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "max_connections=60", "-c", "shared_buffers=16MB"},
               log, switch_user_, uid_, gid_);
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) break;  // exited: port taken, bad data dir …
    if (Answers(port_)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  error_ = "postgres did not start on 127.0.0.1:" + std::to_string(port_) + ":\n" + Tail(log);
  return false;
}

bool PostgresProcess::Stop() {
  if (pid_ <= 0) return true;
  kill(pid_, SIGINT);  // fast shutdown: clients are disconnected, nothing is waited for
  const bool clean = Reap(pid_, std::chrono::seconds(30)) == 0;
  pid_ = -1;
  return clean;
}

bool PostgresProcess::Start() {
  if (pid_ > 0) return true;
  return Launch();
}

void PostgresProcess::Freeze() {
  if (pid_ <= 0 || !frozen_.empty()) return;
  // The postmaster first, so that it forks nothing new while its children are stopped.
  frozen_.push_back(pid_);
  kill(pid_, SIGSTOP);
  for (pid_t child : ChildrenOf(pid_)) {
    frozen_.push_back(child);
    kill(child, SIGSTOP);
  }
  // A stopped server cannot act on its parent-death signal: if this process dies while the
  // server is frozen (a crash, a CTest timeout), a watchdog lets it go so that it shuts down.
  const std::vector<pid_t> frozen = frozen_;
  const pid_t parent = getpid();
  watchdog_ = fork();
  if (watchdog_ == 0) {
    const timespec tick{0, 50'000'000};
    while (getppid() == parent) nanosleep(&tick, nullptr);
    for (pid_t p : frozen) kill(p, SIGCONT);
    _exit(0);
  }
}

void PostgresProcess::Thaw() {
  for (pid_t p : frozen_) kill(p, SIGCONT);
  frozen_.clear();
  if (watchdog_ > 0) {
    kill(watchdog_, SIGKILL);
    waitpid(watchdog_, nullptr, 0);
    watchdog_ = -1;
  }
}

}  // namespace imgorigin::testing
