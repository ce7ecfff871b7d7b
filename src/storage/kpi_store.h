#pragma once
// The business tables beside the users, as the services see them: purchases (revenue), activity
// (who was active on which UTC day) and the exact daily rollups over them and the existing
// tables (docs/kpis.md has the definitions). Part of the one Database (database.h): a purchase is
// stored with its user, and the rollups join users' tables in one place.
//
// Contract (as store.h): expected failures are Result errors — invalid_argument, unavailable,
// overloaded; never blocks the caller's thread. Every backend passes
// tests/kpi/kpi_store_conformance.h.
//
// Days are UtcDay (core/utc_day.h). What happened on a day is read from the Snowflake ids of its
// rows (their time is the service's clock): sign-ups are accounts by user id, uploads are photos
// with source_id 0 by id, edits are jobs done by the id of the photo they made, purchases by id.
// Rows deleted since (a deleted user's account and photos) no longer count.

#include <array>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/ids.h"
#include "core/result.h"
#include "core/utc_day.h"

namespace ztm::storage {

struct Purchase {
  std::int64_t id = 0;  // Snowflake id: when it was bought (IdGenerator::decode)
  UserId user_id = 0;
  std::string plan;              // a plan of the service's catalogue (app/purchases.h)
  std::int64_t price_cents = 0;  // from the catalogue when bought; never from the client
  std::string currency;          // ISO 4217, e.g. "USD"
  bool operator==(const Purchase&) const = default;
};

// The day-N retention this service reports: day 1, 7 and 30 after sign-up.
inline constexpr std::array<int, 3> kRetentionDays = {1, 7, 30};

// The exact counts of one UTC day.
struct DailyKpis {
  UtcDay day = 0;
  std::int64_t dau = 0;  // users active on the day
  std::int64_t wau = 0;  // distinct users active on the 7 days ending with it
  std::int64_t mau = 0;  // ... on the 30 days ending with it
  std::int64_t signups = 0;
  std::int64_t photos_uploaded = 0;
  std::int64_t edits_done = 0;
  std::int64_t purchases = 0;
  std::int64_t revenue_cents = 0;  // the sum of the day's purchases' prices
  bool operator==(const DailyKpis&) const = default;
};

// One sign-up cohort: the users who signed up on `day`, and how many of them were active on
// day + kRetentionDays[i] (whether or not that day has come yet: the caller knows).
struct Cohort {
  UtcDay day = 0;
  std::int64_t size = 0;
  std::array<std::int64_t, kRetentionDays.size()> active = {};
  bool operator==(const Cohort&) const = default;
};

inline constexpr int kMaxPurchasesListed = 100;

class KpiStore {
 public:
  virtual ~KpiStore() = default;

  // Stores a purchase. REQUIRES: id > 0, user_id > 0, price_cents >= 0. With an idempotency key
  // (1..200 bytes, unique per user): a later call with the same user and key stores nothing and
  // returns the purchase the key made (whatever plan the later call names).
  virtual boost::asio::awaitable<Result<Purchase>> create_purchase(
      Purchase purchase, std::optional<std::string> idempotency_key) = 0;
  // The user's purchases, newest first, at most `limit` (1..kMaxPurchasesListed).
  virtual boost::asio::awaitable<Result<std::vector<Purchase>>> list_purchases(UserId user,
                                                                               int limit) = 0;

  // Records that `users` were active on `day`; pairs already recorded are left as they are (so
  // a retry or another server's write of the same pair is harmless). One transaction.
  virtual boost::asio::awaitable<Result<void>> record_activity(UtcDay day,
                                                               std::vector<UserId> users) = 0;

  virtual boost::asio::awaitable<Result<DailyKpis>> daily_kpis(UtcDay day) = 0;
  // The cohorts of days first..last (inclusive) that have at least one user, by day.
  // REQUIRES: first <= last, last - first < 400.
  virtual boost::asio::awaitable<Result<std::vector<Cohort>>> cohorts(UtcDay first,
                                                                      UtcDay last) = 0;
};

}  // namespace ztm::storage
