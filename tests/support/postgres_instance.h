#pragma once
// A private, throwaway PostgreSQL 15 server for one test binary: its own directory under /tmp,
// a Unix socket only (no TCP), fsync off. Started as a child process (as user `postgres` when the
// tests run as root, since PostgreSQL refuses root), stopped by pid, directory removed.
//
// Missing binaries or a server that does not come up throw std::runtime_error with a message
// that says what to install or where the server's log is: tests fail, never skip.

#include <sys/types.h>

#include <string>

namespace ztm::test {

class PostgresInstance {
 public:
  // initdb + start; returns once the server accepts connections (polled, bounded).
  PostgresInstance();
  // A streaming replica of `primary` (running), made by pg_basebackup -R -X stream -c fast with
  // a physical replication slot named `slot` (unique per primary), and started (hot standby).
  PostgresInstance(const PostgresInstance& primary, const std::string& slot);
  // stop(), then removes the directory.
  ~PostgresInstance();
  PostgresInstance(const PostgresInstance&) = delete;
  PostgresInstance& operator=(const PostgresInstance&) = delete;

  // Fast shutdown (SIGINT), waits for the process; idempotent.
  void stop();
  // Starts the server again on the same data directory (after stop()).
  void start();
  bool running() const { return pid_ > 0; }

  // The socket directory: this server's `host` in a connection string (port 5432).
  const std::string& dir() const { return dir_; }
  // A libpq connection string for `dbname` on this server.
  std::string conninfo(const std::string& dbname) const;
  // Creates an empty database with a fresh name and returns that name.
  std::string create_database();
  // Runs `sql` on `dbname` as the superuser and returns the first column of the first row ("" if
  // none). Throws std::runtime_error on failure.
  std::string query(const std::string& dbname, const std::string& sql) const;

  // The one server of this test binary, started on first use.
  static PostgresInstance& shared();

 private:
  void make_dir();

  std::string dir_;  // socket directory; data in dir_/data, log in dir_/log
  pid_t pid_ = -1;
  int databases_ = 0;
};

}  // namespace ztm::test
