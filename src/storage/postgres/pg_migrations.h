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
#include "storage/migration.h"

namespace ztm::storage {

std::span<const Migration> pg_migrations();

// The highest version recorded in schema_migrations; 0 when the table does not exist yet.
// Blocking; connects with `conninfo`, bounded by `timeout` (connect and each statement).
Result<int> pg_schema_version(const std::string& conninfo, std::chrono::milliseconds timeout);

// Applies every migration newer than the database's, each in its own transaction together with
// its schema_migrations row. Concurrent migrators (several servers starting at once) take turns
// on a session advisory lock, waited for up to 12 x timeout; the later ones find nothing to do.
// A database newer than this binary is left alone and reported as from == to.
Result<MigrationReport> pg_migrate(const std::string& conninfo, std::chrono::milliseconds timeout);

}  // namespace ztm::storage
