#pragma once
// Splitting a libpq multi-host connection string into one connection string per host.
//
// storage.postgres_url may name a whole cluster the way libpq does
// (postgresql://user:pw@h1:5432,h2:5432,h3:5432/db or "host=h1,h2,h3 port=5432 dbname=db").
// libpq itself would connect to one of them; ReplicaRouter wants one pool per host instead, so
// each host gets a connection string of its own with the same user, database, password and other
// options, and target_session_attrs=any (the router decides roles itself).

#include <string>
#include <vector>

#include "core/result.h"

namespace ztm::storage {

struct ClusterConninfo {
  std::vector<std::string> hosts;  // one keyword/value connection string per host, in order
  std::vector<std::string> names;  // "host:port" of each, for logs and metric labels
  // The whole list with target_session_attrs=read-write: libpq finds the primary (migrations).
  std::string primary;
};

// invalid_argument when `conninfo` does not parse, or its host and port lists differ in length
// (a single port applies to every host, as in libpq).
Result<ClusterConninfo> split_cluster_conninfo(const std::string& conninfo);

}  // namespace ztm::storage
