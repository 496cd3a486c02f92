// A throwaway PostgreSQL server for integration tests, from the distribution's own binaries
// (Debian: /usr/lib/postgresql/<version>/bin; IMGORIGIN_PG_BINDIR overrides).
//
// The constructor runs initdb into a fresh temp directory and starts `postgres` as a child of the
// test: as the `postgres` system user when the tests run as root (PostgreSQL refuses root), as
// the current user otherwise. It listens on 127.0.0.1 only, on a free port it picks, with its
// unix socket in the temp directory, trust authentication for the superuser `postgres`, and no
// fsync. The server gets SIGQUIT if the test process dies, and the destructor stops it and
// removes the directory. Stop()/Start() make an outage and its end on the same port and data;
// Freeze()/Thaw() make a server that accepts connections but never answers.
//
// If the binaries are missing or the server never answers, started() is false and error() says
// why; IMGORIGIN_REQUIRE_SERVICE (harness.h) then skips the test, or fails it under CI.
// Used from the test's main thread only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace imgorigin::testing {

class PostgresProcess {
 public:
  PostgresProcess();
  ~PostgresProcess();
  PostgresProcess(const PostgresProcess&) = delete;
  PostgresProcess& operator=(const PostgresProcess&) = delete;

  bool started() const { return initialised_; }  // initdb ran and the first start answered
  bool running() const { return pid_ > 0; }
  const std::string& error() const { return error_; }
  uint16_t port() const { return port_; }
  // libpq connection string for the superuser on the default database.
  std::string conninfo() const;

  // Fast shutdown (connections are closed), waited for. False if it had to be killed.
  bool Stop();
  // Starts again on the same port and data directory and waits until it answers.
  bool Start();
  // SIGSTOP / SIGCONT to the server and every process it forked.
  void Freeze();
  void Thaw();

 private:
  bool Launch();  // starts postgres on port_; false (error_ set) if it exits or never answers

  std::string bindir_;
  std::string dir_;  // temp directory: data/, sock/, server.log
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  bool switch_user_ = false;
  bool initialised_ = false;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::vector<pid_t> frozen_;
  pid_t watchdog_ = -1;  // while frozen: thaws the server if the test process dies
  std::string error_;
};

}  // namespace imgorigin::testing
