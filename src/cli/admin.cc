// ztm migrate, ztm seed, ztm config print.
#include <fmt/format.h>

#include "app/demo_data.h"
#include "cli/commands.h"
#include "cli/wiring.h"
#include "core/run_sync.h"
#include "storage/postgres/pg_store.h"
#include "storage/sqlite/sqlite_store.h"

namespace ztm::cli {
namespace {

// Blocking, on a connection of its own (start-up work, no event loop involved).
int migrate_postgres(const Config& config) {
  PgStore store(
      {.conninfo = config.storage.postgres_url, .timeout_ms = config.storage.postgres_timeout_ms});
  auto report = store.migrate();
  if (!report) {
    fmt::print(stderr, "ztm migrate: {}\n", report.error().message);
    return 1;
  }
  // The URL is not printed: it may hold a password.
  fmt::print("ztm migrate: postgres: schema version {} -> {}\n", report->from_version,
             report->to_version);
  if (config.media.backend == "postgres") (void)open_blob_store(config, /*migrate=*/true);
  return 0;
}

}  // namespace

int migrate(const Config& config) {
  if (config.storage.backend == "postgres") return migrate_postgres(config);
  SqliteStore store(SqliteOptions{.path = config.storage.sqlite_path, .threads = 1});
  auto report = store.migrate();
  if (!report) {
    fmt::print(stderr, "ztm migrate: {}\n", report.error().message);
    return 1;
  }
  fmt::print("ztm migrate: {}: schema version {} -> {}\n", config.storage.sqlite_path,
             report->from_version, report->to_version);
  return 0;
}

int seed(const Config& config) {
  MetricsRegistry metrics;
  auto storage = open_storage(config, metrics, /*migrate=*/true);
  const PasswordHasher hasher(password_hasher_options(config.accounts));
  auto loaded = run_sync(load_demo_data(storage.store(), hasher));
  if (!loaded) {
    fmt::print(stderr, "ztm seed: {}\n", loaded.error().message);
    return 1;
  }
  if (*loaded == 0)
    fmt::print("ztm seed: the database already has users; nothing loaded\n");
  else
    fmt::print("ztm seed: loaded {} demo users (try GET /users/12); demo logins: {} / {}, {} / {} "
               "(admin)\n",
               *loaded, kDemoUserEmail, kDemoUserPassword, kDemoAdminEmail, kDemoAdminPassword);
  return 0;
}

int print_config(const Config& config) {
  fmt::print("{}", to_toml(config));
  return 0;
}

}  // namespace ztm::cli
