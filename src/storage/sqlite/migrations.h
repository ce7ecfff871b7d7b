#pragma once
// The SQLite schema as an ordered list of versioned migrations, and the code that applies them.
// Internal to the SQLite backend: sqlite_store.cc is the only includer.
//
// To change the schema, append a migration with the next version; never edit one that has
// shipped, since databases in the field record which versions they already applied.

#include <span>
#include <string_view>

#include "core/result.h"
#include "storage/sqlite/sqlite_store.h"

struct sqlite3;

namespace ztm::storage {

std::span<const Migration> sqlite_migrations();

// The highest version recorded in schema_migrations; 0 when the table does not exist yet.
Result<int> sqlite_schema_version(sqlite3* db);

// Applies every migration newer than schema_version(db), each in its own BEGIN IMMEDIATE
// transaction together with its schema_migrations row, so a failure leaves the database at the
// last version that applied completely. A database newer than this binary (a rolling upgrade's
// old instance) is left alone and reported as from == to.
// REQUIRES: nothing else writes through `db` concurrently.
Result<MigrationReport> sqlite_migrate(sqlite3* db);

}  // namespace ztm::storage
