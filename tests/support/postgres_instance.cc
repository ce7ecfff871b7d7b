#include "tests/support/postgres_instance.h"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tests/support/child_process.h"

namespace ztm::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kBin = "/usr/lib/postgresql/15/bin";
constexpr const char* kPort = "5432";  // only names the socket file; each server has its own dir
constexpr auto kStartBound = 60s;
constexpr auto kStopBound = 30s;

// Who the server runs as: PostgreSQL refuses root, so root hands it to the `postgres` user.
RunAs run_as() {
  if (geteuid() != 0) return {};
  const passwd* pw = getpwnam("postgres");
  if (!pw)
    throw std::runtime_error(
        "PostgresInstance: running as root but there is no 'postgres' user; install the Debian "
        "package postgresql-15 (scripts/test does)");
  return {true, pw->pw_uid, pw->pw_gid};
}

}  // namespace

PostgresInstance::PostgresInstance() {
  namespace fs = std::filesystem;
  if (!fs::exists(fs::path(kBin) / "postgres") || !fs::exists(fs::path(kBin) / "initdb"))
    throw std::runtime_error(std::string("PostgresInstance: PostgreSQL 15 server binaries not "
                                         "found in ") +
                             kBin +
                             "; install the Debian package postgresql-15 (scripts/test "
                             "installs it)");
  make_dir();
  const RunAs as = run_as();
  const std::string log = dir_ + "/log";
  const pid_t initdb = spawn({std::string(kBin) + "/initdb", "-D", dir_ + "/data", "-U", "postgres",
                              "-A", "trust", "-N", "-E", "UTF8", "--no-locale"},
                             log, as);
  int status = 0;
  if (!wait_for_exit(initdb, kStartBound, &status) || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    kill(initdb, SIGKILL);
    throw std::runtime_error("PostgresInstance: initdb failed; log " + log + ":\n" + log_tail(log));
  }
  start();
}

PostgresInstance::PostgresInstance(const PostgresInstance& primary, const std::string& slot) {
  make_dir();
  const std::string log = dir_ + "/log";
  const pid_t backup = spawn(
      {std::string(kBin) + "/pg_basebackup", "-D", dir_ + "/data", "-h", primary.dir_, "-p", kPort,
       "-U", "postgres", "-R", "-X", "stream", "-c", "fast", "-C", "-S", slot, "--no-sync"},
      log, run_as());
  int status = 0;
  if (!wait_for_exit(backup, kStartBound, &status) || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    kill(backup, SIGKILL);
    throw std::runtime_error("PostgresInstance: pg_basebackup failed; log " + log + ":\n" +
                             log_tail(log));
  }
  start();
}

void PostgresInstance::make_dir() {
  const RunAs as = run_as();
  std::string pattern = "/tmp/ztm-pg-XXXXXX";  // short: a socket path has ~100 bytes at most
  if (!mkdtemp(pattern.data())) throw std::runtime_error("PostgresInstance: mkdtemp failed");
  dir_ = pattern;
  if (as.drop && chown(dir_.c_str(), as.uid, as.gid) != 0)
    throw std::runtime_error("PostgresInstance: cannot chown " + dir_ + " to postgres");
}

PostgresInstance::~PostgresInstance() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void PostgresInstance::start() {
  if (pid_ > 0) return;
  const std::string log = dir_ + "/log";
  // wal_level and the workers: bucket moves (storage/sharding/mover.h) use logical replication,
  // and a new subscription's workers should start within 100 ms, not 5 s.
  pid_ = spawn({std::string(kBin) + "/postgres",
                "-D",
                dir_ + "/data",
                "-k",
                dir_,
                "-p",
                kPort,
                "-c",
                "listen_addresses=",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
                "-c",
                "wal_level=logical",
                "-c",
                "wal_retrieve_retry_interval=100ms",
                "-c",
                "max_logical_replication_workers=8",
                "-c",
                "max_worker_processes=16"},
               log, run_as());
  const std::string probe = conninfo("postgres");
  const auto until = std::chrono::steady_clock::now() + kStartBound;
  while (PQping(probe.c_str()) != PQPING_OK) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("PostgresInstance: the server exited at start; log " + log + ":\n" +
                               log_tail(log));
    }
    if (std::chrono::steady_clock::now() > until) {
      stop();
      throw std::runtime_error(
          "PostgresInstance: the server did not accept connections in time; "
          "log " +
          log + ":\n" + log_tail(log));
    }
    std::this_thread::sleep_for(5ms);
  }
}

void PostgresInstance::stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGINT);  // fast shutdown: ends sessions, no waiting for clients
  int status = 0;
  if (!wait_for_exit(pid_, kStopBound, &status)) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
}

std::string PostgresInstance::conninfo(const std::string& dbname) const {
  return "host=" + dir_ + " port=" + kPort + " dbname=" + dbname + " user=postgres";
}

std::string PostgresInstance::create_database() {
  const std::string name = "ztm_test_" + std::to_string(++databases_);
  query("postgres", "CREATE DATABASE " + name);
  return name;
}

std::string PostgresInstance::query(const std::string& dbname, const std::string& sql) const {
  std::unique_ptr<PGconn, decltype(&PQfinish)> c(PQconnectdb(conninfo(dbname).c_str()), &PQfinish);
  if (!c || PQstatus(c.get()) != CONNECTION_OK)
    throw std::runtime_error("PostgresInstance: cannot connect to " + dbname + ": " +
                             (c ? PQerrorMessage(c.get()) : "no memory"));
  std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(c.get(), sql.c_str()), &PQclear);
  const ExecStatusType status = PQresultStatus(r.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    throw std::runtime_error("PostgresInstance: " + sql + ": " + PQerrorMessage(c.get()));
  if (status == PGRES_TUPLES_OK && PQntuples(r.get()) > 0 && PQnfields(r.get()) > 0)
    return PQgetvalue(r.get(), 0, 0);
  return "";
}

PostgresInstance& PostgresInstance::shared() {
  static PostgresInstance instance;
  return instance;
}

}  // namespace ztm::test
