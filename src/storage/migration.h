#pragma once
// What every backend's schema migrations share: a migration as data and the report of a run.
// Each backend keeps its own ordered list (storage/sqlite/migrations.h,
// storage/postgres/pg_migrations.h); the versions mean the same schema in both.

#include <string_view>

namespace ztm::storage {

struct Migration {
  int version;            // 1, 2, 3, ... in order, no gaps
  std::string_view name;  // recorded in schema_migrations.name
  std::string_view sql;   // one or more statements, run inside the migration's transaction
};

struct MigrationReport {
  int from_version = 0;
  int to_version = 0;
};

}  // namespace ztm::storage
