// Engine `postgres`: PostgreSQL 15, run in the foreground as the `postgres` user (it refuses
// root), data and socket directory under the engine's working directory.
// Prepare: initdb, our postgresql.conf and pg_hba.conf (deploy/postgres/), then the lab's role
// and database created in single-user mode — no server, no network, no password on disk.
#include <unistd.h>

#include <stdexcept>

#include "lab/engines/engine.h"
#include "lab/engines/files.h"
#include "lab/engines/postgres_credentials.h"
#include "lab/health.h"
#include "lab/template.h"

namespace ztm::lab {

namespace {

constexpr const char* kUser = "postgres";

// Runs a PostgreSQL tool as `postgres` (bounded), or throws with the log's tail.
void run_step(const std::string& what, Launch launch) {
  launch.user = kUser;
  auto status = run(launch, std::chrono::seconds(60));
  if (status != 0)
    throw std::runtime_error("postgres: " + what + " failed (" + launch.log + "):\n" +
                             tail(launch.log, 10));
}

}  // namespace

ProcessSpec prepare_postgres(const EngineContext& c) {
  const passwd* pw = &engine_user(kUser, "postgresql-15");
  const std::string bin = postgres_bin_dir();
  if (::access((bin + "/postgres").c_str(), X_OK) != 0)
    throw std::runtime_error("postgres: no " + bin +
                             "/postgres: install postgresql-15 or set ZTM_PG_BIN");
  const std::string data = c.workdir + "/data";
  const std::string run_dir = c.workdir + "/run";
  const std::string log = c.workdir + "/postgres.log";
  check_searchable("postgres", c.workdir, *pw);
  chown_to(c.workdir, *pw);
  make_dir(run_dir, *pw);
  write_file(log, "");
  chown_to(log, *pw);

  run_step("initdb", {.argv = {bin + "/initdb", "-D", data, "--auth=trust", "--encoding=UTF8",
                               "--locale=C", "--no-sync"},
                      .workdir = c.workdir,
                      .log = log});
  const Vars vars = {
      {"address", c.address}, {"port", std::to_string(kPostgresPort)}, {"socket_dir", run_dir}};
  for (const char* file : {"postgresql.conf", "pg_hba.conf"}) {
    render_file("postgres", file, vars, data + "/" + file);
    chown_to(data + "/" + file, *pw);
  }
  const std::string sql = c.workdir + "/setup.sql";
  // The web tier's role: no superuser (postgres_credentials.h); the superuser `postgres` has
  // no password here, so it logs in only over the socket (pg_hba: local trust), as root's tools.
  write_file(sql,
             std::string("CREATE ROLE ") + kPostgresUser + " LOGIN NOSUPERUSER PASSWORD '" +
                 postgres_password(c.lab_dir) + "';\nGRANT pg_read_all_stats TO " + kPostgresUser +
                 ";\nCREATE DATABASE " + kPostgresDatabase + " OWNER " + kPostgresUser + ";\n",
             0600);
  run_step("creating the lab's role and database",
           {.argv = {bin + "/postgres", "--single", "-D", data, "postgres"},
            .workdir = c.workdir,
            .log = log,
            .stdin_path = sql});
  ::unlink(sql.c_str());

  ProcessSpec spec;
  spec.launch = {.argv = {bin + "/postgres", "-D", data},
                 .netns = c.netns,
                 .user = kUser,
                 .workdir = c.workdir,
                 .log = log};
  spec.stop_signal = SIGINT;  // fast shutdown: SIGTERM ("smart") would wait for every client
  const std::string address = c.address;
  spec.healthy = [address](std::chrono::milliseconds timeout) {
    return postgres_accepting(address, kPostgresPort, timeout);
  };
  return spec;
}

}  // namespace ztm::lab
