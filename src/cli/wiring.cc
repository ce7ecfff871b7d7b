#include "cli/wiring.h"

#include <fmt/format.h>

#include "core/log.h"
#include "storage/metered_store.h"
#include "storage/sqlite/sqlite_store.h"

namespace ztm::cli {

Storage open_storage(const Config& config, MetricsRegistry& metrics, bool migrate) {
  auto sqlite = std::make_unique<SqliteStore>(SqliteOptions{
      .path = config.storage.sqlite_path,
      .threads = config.storage.sqlite_threads,
      .max_pending = config.storage.max_pending,
      .durable_commits = config.storage.sqlite_durable_commits,
  });
  if (migrate) {
    auto report = sqlite->migrate();
    if (!report) throw std::runtime_error("migration failed: " + report.error().message);
    if (report->from_version != report->to_version)
      log::info("migrated", {{"from", report->from_version}, {"to", report->to_version}});
  } else {
    auto version = sqlite->schema_version();
    if (!version) throw std::runtime_error("cannot read schema version: " + version.error().message);
    // A newer schema is fine during a rolling upgrade (migrations only add); an older one is not.
    if (*version < SqliteStore::latest_schema_version())
      throw std::runtime_error(fmt::format(
          "database schema is at version {}, this build needs {}: run `ztm migrate`", *version,
          SqliteStore::latest_schema_version()));
  }
  auto metered = std::make_unique<MeteredStore>(*sqlite, metrics);
  return Storage(std::move(sqlite), std::move(metered));
}

}  // namespace ztm::cli
