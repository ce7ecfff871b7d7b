#pragma once
// The purchases, activity and rollup statements (the SQL behind kpi_store.h), run on one
// postgres::Host. PgStore runs them on its only host; ReplicaRouter on the primary. Each function
// has the semantics of the KpiStore method of the same name.
//
// REQUIRES for every function: `host` outlives the call.

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "postgres/host.h"
#include "storage/kpi_store.h"

namespace ztm::storage {

boost::asio::awaitable<Result<Purchase>> pg_create_purchase(
    postgres::Host& host, Purchase purchase, std::optional<std::string> idempotency_key);
boost::asio::awaitable<Result<std::vector<Purchase>>> pg_list_purchases(postgres::Host& host,
                                                                        UserId user, int limit);
boost::asio::awaitable<Result<void>> pg_record_activity(postgres::Host& host, UtcDay day,
                                                        std::vector<UserId> users);
boost::asio::awaitable<Result<DailyKpis>> pg_daily_kpis(postgres::Host& host, UtcDay day);
boost::asio::awaitable<Result<std::vector<Cohort>>> pg_cohorts(postgres::Host& host, UtcDay first,
                                                               UtcDay last);

}  // namespace ztm::storage
