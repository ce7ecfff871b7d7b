// ztm migrate, ztm seed, ztm config print: start-up work on the database, no event loop.
#include <fmt/format.h>

#include "app/demo_data.h"
#include "cli/commands.h"
#include "core/run_sync.h"
#include "node/backends.h"

namespace ztm::cli {

using app::kDemoAdminEmail;
using app::kDemoAdminPassword;
using app::kDemoUserEmail;
using app::kDemoUserPassword;
using app::load_demo_data;
using app::PasswordHasher;

int migrate(const Config& config) {
  try {
    fmt::print("ztm migrate: {}\n", node::migrate_database(config));
  } catch (const std::runtime_error& e) {
    fmt::print(stderr, "ztm migrate: {}\n", e.what());
    return 1;
  }
  return 0;
}

int seed(const Config& config) {
  MetricsRegistry metrics;
  auto database = node::open_database(config, metrics, Clock::system(), /*migrate=*/true);
  const PasswordHasher hasher(node::password_hasher_options(config.accounts));
  auto loaded = run_sync(load_demo_data(*database, hasher));
  if (!loaded) {
    fmt::print(stderr, "ztm seed: {}\n", loaded.error().message);
    return 1;
  }
  if (*loaded == 0)
    fmt::print("ztm seed: the database already has users; nothing loaded\n");
  else
    fmt::print(
        "ztm seed: loaded {} demo users (try GET /users/12); demo logins: {} / {}, {} / {} "
        "(admin)\n",
        *loaded, kDemoUserEmail, kDemoUserPassword, kDemoAdminEmail, kDemoAdminPassword);
  return 0;
}

int print_config(const Config& config) {
  fmt::print("{}", to_toml(config));
  return 0;
}

}  // namespace ztm::cli
