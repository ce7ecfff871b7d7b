#pragma once
// The lab's PostgreSQL role and database. Lab-only credentials: the server listens only on the
// lab's private network (pg_hba.conf allows 10.77.0.0/16 and loopback).

#include <string>

namespace ztm::lab {

inline constexpr const char* kPostgresUser = "ztm";
inline constexpr const char* kPostgresPassword = "ztm-lab";
inline constexpr const char* kPostgresDatabase = "ztm";
inline constexpr int kPostgresPort = 5432;

inline std::string postgres_url(const std::string& address) {
  return std::string("postgresql://") + kPostgresUser + ":" + kPostgresPassword + "@" + address +
         ":" + std::to_string(kPostgresPort) + "/" + kPostgresDatabase;
}

}  // namespace ztm::lab
