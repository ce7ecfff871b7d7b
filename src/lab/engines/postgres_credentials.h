#pragma once
// The lab's PostgreSQL role and database, and where PostgreSQL's binaries are (shared by the
// engines `postgres` and `patroni`). Lab-only credentials: the server listens only on the
// lab's private network (pg_hba.conf allows 10.77.0.0/16 and loopback).

#include <cstdlib>
#include <string>
#include <vector>

namespace ztm::lab {

inline constexpr const char* kPostgresUser = "ztm";
inline constexpr const char* kPostgresPassword = "ztm-lab";
inline constexpr const char* kPostgresDatabase = "ztm";
inline constexpr int kPostgresPort = 5432;

// One host, or several in libpq's multi-host form ("a:5432,b:5432": libpq tries them in order).
inline std::string postgres_url(const std::vector<std::string>& addresses) {
  std::string hosts;
  for (const auto& a : addresses)
    hosts += (hosts.empty() ? "" : ",") + a + ":" + std::to_string(kPostgresPort);
  return std::string("postgresql://") + kPostgresUser + ":" + kPostgresPassword + "@" + hosts +
         "/" + kPostgresDatabase;
}

// $ZTM_PG_BIN, else Debian's PostgreSQL 15.
inline std::string postgres_bin_dir() {
  if (const char* dir = std::getenv("ZTM_PG_BIN"); dir && *dir) return dir;
  return "/usr/lib/postgresql/15/bin";
}

}  // namespace ztm::lab
