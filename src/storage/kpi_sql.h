#pragma once
// The rollups' SQL, one text for both SQL backends (storage/sqlite and storage/postgres), so the
// definitions in docs/kpis.md are written once. Parameters are $1, $2, ...: PostgreSQL's
// positional form; SQLite reads "$1" as a named parameter and numbers named parameters in the
// order they first appear, so each text below uses $1, $2, ... first in that order (the binding
// is then the same in both). No arithmetic on parameters, so PostgreSQL deduces one type for each.
// Internal to the backends.

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "core/ids.h"
#include "core/result.h"
#include "core/utc_day.h"
#include "storage/kpi_store.h"
#include "storage/store.h"

namespace ztm::storage::kpi_sql {

// $1 the day, $2 the first day of its week, $3 of its 30 days, $4 and $5 the ids of the day:
// [first_id_of(day), first_id_of(day + 1)). One row of eight counts, DailyKpis's order.
inline constexpr const char* kDaily =
    "SELECT (SELECT count(*) FROM activity WHERE day = $1), "
    "(SELECT count(DISTINCT user_id) FROM activity WHERE day >= $2 AND day <= $1), "
    "(SELECT count(DISTINCT user_id) FROM activity WHERE day >= $3 AND day <= $1), "
    "(SELECT count(*) FROM accounts WHERE user_id >= $4 AND user_id < $5), "
    "(SELECT count(*) FROM photos WHERE id >= $4 AND id < $5 AND source_id = 0), "
    "(SELECT count(*) FROM jobs WHERE status = 'done' AND result_photo_id >= $4 "
    "AND result_photo_id < $5), "
    "(SELECT count(*) FROM purchases WHERE id >= $4 AND id < $5), "
    "(SELECT coalesce(sum(price_cents), 0) FROM purchases WHERE id >= $4 AND id < $5)";

// $1..$3 kRetentionDays, $4 the bits below an id's milliseconds, $5 the ids' epoch in Unix ms,
// $6 ms per day, $7 and $8 the ids of the cohorts' days. Rows: day, size, active after each.
inline constexpr const char* kCohorts =
    "SELECT c.day, count(*), "
    "sum(CASE WHEN EXISTS (SELECT 1 FROM activity a WHERE a.day = c.day + $1 "
    "AND a.user_id = c.user_id) THEN 1 ELSE 0 END), "
    "sum(CASE WHEN EXISTS (SELECT 1 FROM activity a WHERE a.day = c.day + $2 "
    "AND a.user_id = c.user_id) THEN 1 ELSE 0 END), "
    "sum(CASE WHEN EXISTS (SELECT 1 FROM activity a WHERE a.day = c.day + $3 "
    "AND a.user_id = c.user_id) THEN 1 ELSE 0 END) "
    "FROM (SELECT user_id, ((user_id >> $4) + $5) / $6 AS day FROM accounts "
    "WHERE user_id >= $7 AND user_id < $8) c GROUP BY c.day ORDER BY c.day";

// The parameters of kDaily and kCohorts, in order.
inline std::array<std::int64_t, 5> daily_params(UtcDay day) {
  return {day, day - 6, day - 29, first_id_of(day), first_id_of(day + 1)};
}
inline std::array<std::int64_t, 8> cohort_params(UtcDay first, UtcDay last) {
  return {kRetentionDays[0],     kRetentionDays[1],
          kRetentionDays[2],     IdGenerator::kNodeBits + IdGenerator::kSequenceBits,
          IdGenerator::kEpochMs, kMsPerDay,
          first_id_of(first),    first_id_of(last + 1)};
}

// The argument checks every backend makes.
inline Result<void> check_cohort_range(UtcDay first, UtcDay last) {
  if (first > last || last - first >= 400)
    return Error{Errc::invalid_argument, "cohorts: first..last must be 1..400 days"};
  return {};
}

inline Result<void> check_purchase(const Purchase& p, const std::optional<std::string>& key) {
  if (p.id <= 0 || p.user_id <= 0 || p.price_cents < 0 || p.plan.empty() || p.currency.empty())
    return Error{Errc::invalid_argument, "purchase: ids, plan, currency and price are required"};
  if (key && (key->empty() || key->size() > kMaxIdempotencyKeyBytes ||
              key->find('\0') != std::string::npos))
    return Error{Errc::invalid_argument, "idempotency key: 1..200 bytes, no NUL"};
  return {};
}

inline Result<void> check_list_limit(int limit) {
  if (limit < 1 || limit > kMaxPurchasesListed)
    return Error{Errc::invalid_argument, "limit: 1..100"};
  return {};
}

}  // namespace ztm::storage::kpi_sql
