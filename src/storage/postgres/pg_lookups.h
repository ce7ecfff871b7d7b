#pragma once
// The lookups table's statements (the SQL behind lookup_store.h), run on one postgres::Host.
// PgStore runs them on its only host; ReplicaRouter on the primary. Each function has the semantics
// of the LookupStore method of the same name.
//
// REQUIRES for every function: `host` outlives the call.

#include <boost/asio/awaitable.hpp>
#include <string>

#include "core/result.h"
#include "postgres/host.h"
#include "storage/lookup_store.h"

namespace ztm::storage {

boost::asio::awaitable<Result<UserId>> pg_put_lookup(postgres::Host& host, LookupKind kind,
                                                     const std::string& key, UserId owner);
boost::asio::awaitable<Result<void>> pg_replace_lookup(postgres::Host& host, LookupKind kind,
                                                       const std::string& key, UserId previous,
                                                       UserId owner);
boost::asio::awaitable<Result<UserId>> pg_find_lookup(postgres::Host& host, LookupKind kind,
                                                      const std::string& key);
boost::asio::awaitable<Result<void>> pg_erase_lookup(postgres::Host& host, LookupKind kind,
                                                     const std::string& key, UserId owner);

}  // namespace ztm::storage
