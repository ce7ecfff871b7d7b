#pragma once
// The PostgreSQL schema as an ordered list of versioned migrations, and the blocking code that
// applies them (start-up and `ztm migrate` only, never on an event loop).
//
// The schema means what SQLite's does (src/storage/sqlite/migrations.cc): the same tables,
// columns and versions, in PostgreSQL's types. To change it, append a migration with the next
// version to both backends; never edit one that has shipped.

#include <chrono>
#include <span>
#include <string>
#include <string_view>

#include "core/result.h"

namespace ztm {

// Like SqliteStore's MigrationReport (kept apart because backends do not include each other;
// a shared storage/migration_report.h would let both use one type).
struct PgMigrationReport {
  int from_version = 0;
  int to_version = 0;
};

namespace pg {

struct Migration {
  int version;            // 1, 2, 3, ... in order, no gaps
  std::string_view name;  // recorded in schema_migrations.name
  std::string_view sql;   // one or more statements, run inside the migration's transaction
};

std::span<const Migration> migrations();

// The highest version recorded in schema_migrations; 0 when the table does not exist yet.
// Blocking; connects with `conninfo`, bounded by `timeout` (connect and each statement).
Result<int> schema_version(const std::string& conninfo, std::chrono::milliseconds timeout);

// Applies every migration newer than the database's, each in its own transaction together with
// its schema_migrations row. Concurrent migrators (several servers starting at once) take turns
// on a session advisory lock, waited for up to 12 x timeout; the later ones find nothing to do.
// A database newer than this binary is left alone and reported as from == to.
Result<PgMigrationReport> migrate(const std::string& conninfo, std::chrono::milliseconds timeout);

}  // namespace pg
}  // namespace ztm
