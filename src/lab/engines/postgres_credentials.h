#pragma once
// The lab's PostgreSQL roles and database, and where PostgreSQL's binaries are (shared by the
// engines `postgres` and `patroni`). The server listens only on the lab's private network
// (pg_hba.conf allows 10.77.0.0/16 and loopback), and every password is the lab's own
// (secrets.h): `ztm`, the web tier's role, owns the database and its tables and may read the
// replication statistics (pg_read_all_stats), nothing more; `postgres`, the superuser, is for the
// operator's tools (`ztm shard --admin-user postgres`: subscriptions need a superuser in 15).

#include <cstdlib>
#include <string>
#include <vector>

#include "lab/secrets.h"

namespace ztm::lab {

inline constexpr const char* kPostgresUser = "ztm";
inline constexpr const char* kPostgresAdmin = "postgres";
inline constexpr const char* kPostgresDatabase = "ztm";
inline constexpr int kPostgresPort = 5432;

// The web tier's password (<lab dir>/secrets/postgres-app) and the superuser's (postgres-admin).
inline std::string postgres_password(const std::string& lab_dir) {
  return lab_secret(lab_dir, "postgres-app");
}
inline std::string postgres_admin_password(const std::string& lab_dir) {
  return lab_secret(lab_dir, "postgres-admin");
}

// The web tier's URL: one host, or several in libpq's multi-host form ("a:5432,b:5432": libpq
// tries them in order), logging in as kPostgresUser with `password`.
inline std::string postgres_url(const std::string& password,
                                const std::vector<std::string>& addresses) {
  std::string hosts;
  for (const auto& a : addresses)
    hosts += (hosts.empty() ? "" : ",") + a + ":" + std::to_string(kPostgresPort);
  return std::string("postgresql://") + kPostgresUser + ":" + password + "@" + hosts + "/" +
         kPostgresDatabase;
}

// $ZTM_PG_BIN, else Debian's PostgreSQL 15.
inline std::string postgres_bin_dir() {
  if (const char* dir = std::getenv("ZTM_PG_BIN"); dir && *dir) return dir;
  return "/usr/lib/postgresql/15/bin";
}

}  // namespace ztm::lab
