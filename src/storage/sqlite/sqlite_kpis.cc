// SqliteStore's KpiStore part (kpi_store.h): purchases, activity and the rollups, in the same
// database file as the users.
#include <fmt/format.h>

#include "sqlite/database.h"
#include "storage/kpi_sql.h"
#include "storage/sqlite/sqlite_store.h"

namespace ztm::storage {
namespace {

using boost::asio::awaitable;
using sqlite::Connection;
using sqlite::Statement;
using sqlite::WriteTransaction;

namespace sql {
constexpr const char* purchase_insert =
    "INSERT INTO purchases(id, user_id, plan, price_cents, currency, idempotency_key, created_at) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))";
constexpr const char* purchase_by_key =
    "SELECT id, user_id, plan, price_cents, currency FROM purchases "
    "WHERE user_id = ?1 AND idempotency_key = ?2";
constexpr const char* purchase_list =
    "SELECT id, user_id, plan, price_cents, currency FROM purchases WHERE user_id = ?1 "
    "ORDER BY id DESC LIMIT ?2";
constexpr const char* activity_insert =
    "INSERT INTO activity(day, user_id) VALUES(?1, ?2) ON CONFLICT DO NOTHING";
}  // namespace sql

Purchase read_purchase(Statement& st) {
  return Purchase{st.column_int64(0), st.column_int64(1), st.column_text(2), st.column_int64(3),
                  st.column_text(4)};
}

// Binds ?1.. to `values` in order (kpi_sql's texts number their parameters as they appear).
template <std::size_t N>
void bind_all(Statement& st, const std::array<std::int64_t, N>& values) {
  for (std::size_t i = 0; i < N; ++i) st.bind(static_cast<int>(i + 1), values[i]);
}

}  // namespace

awaitable<Result<Purchase>> SqliteStore::create_purchase(Purchase purchase,
                                                         std::optional<std::string> key) {
  if (auto c = kpi_sql::check_purchase(purchase, key); !c.ok()) co_return std::move(c).error();
  co_return co_await db_->write<Purchase>([&](Connection& w) -> Result<Purchase> {
    WriteTransaction txn(w);
    if (auto b = txn.begin(); !b.ok()) return std::move(b).error();
    if (key) {  // a key seen before: the purchase it made
      auto st = w.prepare(sql::purchase_by_key);
      if (!st.ok()) return std::move(st).error();
      st->bind(1, purchase.user_id);
      st->bind(2, *key);
      const int rc = st->step();
      if (rc == SQLITE_ROW) return read_purchase(*st);
      if (rc != SQLITE_DONE) return w.error(rc, "create_purchase (idempotency key)");
    }
    {
      auto st = w.prepare(sql::purchase_insert);
      if (!st.ok()) return std::move(st).error();
      st->bind(1, purchase.id);
      st->bind(2, purchase.user_id);
      st->bind(3, purchase.plan);
      st->bind(4, purchase.price_cents);
      st->bind(5, purchase.currency);
      if (key) st->bind(6, *key);  // else NULL (bindings are cleared after each use)
      const int rc = st->step();
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return Error{Errc::conflict, fmt::format("purchase {} already exists", purchase.id)};
      if (rc != SQLITE_DONE) return w.error(rc, "create_purchase");
    }
    if (auto c = txn.commit(); !c.ok()) return std::move(c).error();
    return std::move(purchase);
  });
}

awaitable<Result<std::vector<Purchase>>> SqliteStore::list_purchases(UserId user, int limit) {
  if (auto c = kpi_sql::check_list_limit(limit); !c.ok()) co_return std::move(c).error();
  co_return co_await db_->read<std::vector<Purchase>>(
      sql::purchase_list,
      [user, limit](Statement& st, Connection& c) -> Result<std::vector<Purchase>> {
        st.bind(1, user);
        st.bind(2, std::int64_t{limit});
        std::vector<Purchase> out;
        int rc;
        while ((rc = st.step()) == SQLITE_ROW) out.push_back(read_purchase(st));
        if (rc != SQLITE_DONE) return c.error(rc, "list_purchases");
        return out;
      });
}

awaitable<Result<void>> SqliteStore::record_activity(UtcDay day, std::vector<UserId> users) {
  if (users.empty()) co_return Result<void>{};
  co_return co_await db_->write<void>([&](Connection& w) -> Result<void> {
    WriteTransaction txn(w);
    if (auto b = txn.begin(); !b.ok()) return std::move(b).error();
    for (UserId user : users) {
      auto st = w.prepare(sql::activity_insert);
      if (!st.ok()) return std::move(st).error();
      st->bind(1, day);
      st->bind(2, user);
      if (int rc = st->step(); rc != SQLITE_DONE) return w.error(rc, "record_activity");
    }
    return txn.commit();
  });
}

awaitable<Result<DailyKpis>> SqliteStore::daily_kpis(UtcDay day) {
  co_return co_await db_->read<DailyKpis>(kpi_sql::kDaily,
                                          [day](Statement& st, Connection& c) -> Result<DailyKpis> {
                                            bind_all(st, kpi_sql::daily_params(day));
                                            if (int rc = st.step(); rc != SQLITE_ROW)
                                              return c.error(rc, "daily_kpis");
                                            return DailyKpis{day,
                                                             st.column_int64(0),
                                                             st.column_int64(1),
                                                             st.column_int64(2),
                                                             st.column_int64(3),
                                                             st.column_int64(4),
                                                             st.column_int64(5),
                                                             st.column_int64(6),
                                                             st.column_int64(7)};
                                          });
}

awaitable<Result<std::vector<Cohort>>> SqliteStore::cohorts(UtcDay first, UtcDay last) {
  if (auto c = kpi_sql::check_cohort_range(first, last); !c.ok()) co_return std::move(c).error();
  co_return co_await db_->read<std::vector<Cohort>>(
      kpi_sql::kCohorts,
      [first, last](Statement& st, Connection& c) -> Result<std::vector<Cohort>> {
        bind_all(st, kpi_sql::cohort_params(first, last));
        std::vector<Cohort> out;
        int rc;
        while ((rc = st.step()) == SQLITE_ROW)
          out.push_back(Cohort{st.column_int64(0),
                               st.column_int64(1),
                               {st.column_int64(2), st.column_int64(3), st.column_int64(4)}});
        if (rc != SQLITE_DONE) return c.error(rc, "cohorts");
        return out;
      });
}

}  // namespace ztm::storage
