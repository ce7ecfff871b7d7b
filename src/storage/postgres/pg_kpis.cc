#include "storage/postgres/pg_kpis.h"

#include <fmt/format.h>

#include <array>

#include "storage/kpi_sql.h"

namespace ztm::storage {
namespace {

using boost::asio::awaitable;
using postgres::Host;
using postgres::QueryResult;
using postgres::Statement;

#define ZTM_PURCHASE_COLUMNS "id, user_id, plan, price_cents, currency"
// With a key: inserts nothing when the user used it before (ON CONFLICT waits for a concurrent
// insert of the same key); the caller then reads the purchase the key made.
constexpr Statement kInsertPurchase{
    "ztm_create_purchase", "INSERT INTO purchases(" ZTM_PURCHASE_COLUMNS
                           ", idempotency_key) VALUES($1, $2, $3, $4, $5, $6) "
                           "ON CONFLICT (user_id, idempotency_key) DO NOTHING RETURNING id"};
constexpr Statement kPurchaseByKey{"ztm_purchase_by_key",
                                   "SELECT " ZTM_PURCHASE_COLUMNS
                                   " FROM purchases WHERE user_id = $1 AND idempotency_key = $2"};
constexpr Statement kListPurchases{"ztm_list_purchases",
                                   "SELECT " ZTM_PURCHASE_COLUMNS
                                   " FROM purchases WHERE user_id = $1 ORDER BY id DESC LIMIT $2"};
#undef ZTM_PURCHASE_COLUMNS
constexpr Statement kRecordActivity{
    "ztm_record_activity",
    "INSERT INTO activity(day, user_id) SELECT $1::integer, unnest($2::bigint[]) "
    "ON CONFLICT DO NOTHING"};
constexpr Statement kDaily{"ztm_daily_kpis", kpi_sql::kDaily};
constexpr Statement kCohorts{"ztm_cohorts", kpi_sql::kCohorts};

// The integers as text parameters (PostgreSQL's text format).
template <std::size_t N>
struct IntParams {
  explicit IntParams(const std::array<std::int64_t, N>& values) {
    for (std::size_t i = 0; i < N; ++i) {
      text[i] = std::to_string(values[i]);
      pointers[i] = text[i].c_str();
    }
  }
  std::array<std::string, N> text;
  std::array<const char*, N> pointers{};
};

// Column `first` and the `n` after it of row `row` as integers; nullopt if any is not one.
template <std::size_t N>
std::optional<std::array<std::int64_t, N>> ints(const QueryResult& r, int row) {
  std::array<std::int64_t, N> out{};
  for (std::size_t i = 0; i < N; ++i) {
    const auto v = r.int64(row, static_cast<int>(i));
    if (!v) return std::nullopt;
    out[i] = *v;
  }
  return out;
}

Result<Purchase> read_purchase(const QueryResult& r, int row) {
  const auto id = r.int64(row, 0), user = r.int64(row, 1), price = r.int64(row, 3);
  if (!id || !user || !price) return Error{Errc::internal, "postgres: malformed purchase row"};
  return Purchase{*id, *user, std::string(r.text(row, 2)), *price, std::string(r.text(row, 4))};
}

}  // namespace

awaitable<Result<Purchase>> pg_create_purchase(Host& host, Purchase purchase,
                                               std::optional<std::string> key) {
  if (auto c = kpi_sql::check_purchase(purchase, key); !c.ok()) co_return std::move(c).error();
  for (const std::string* s : {&purchase.plan, &purchase.currency})
    if (s->find('\0') != std::string::npos)
      co_return Error{Errc::invalid_argument, "purchase: text must not contain NUL characters"};
  const std::string id = std::to_string(purchase.id), user = std::to_string(purchase.user_id),
                    price = std::to_string(purchase.price_cents);
  const std::array<const char*, 6> params{id.c_str(),
                                          user.c_str(),
                                          purchase.plan.c_str(),
                                          price.c_str(),
                                          purchase.currency.c_str(),
                                          key ? key->c_str() : nullptr};
  auto r = co_await host.execute(kInsertPurchase, params);
  if (!r.ok()) {
    Error e = std::move(r).error();
    if (e.code == Errc::conflict) e.message = fmt::format("purchase {} already exists", id);
    co_return e;
  }
  if (r->rows() == 1) co_return purchase;
  // The key was used before: the purchase it made.
  const std::array<const char*, 2> by_key{user.c_str(), key->c_str()};
  auto keyed = co_await host.execute(kPurchaseByKey, by_key);
  if (!keyed.ok()) co_return std::move(keyed).error();
  if (keyed->rows() != 1) co_return Error{Errc::internal, "postgres: idempotency key lost"};
  co_return read_purchase(*keyed, 0);
}

awaitable<Result<std::vector<Purchase>>> pg_list_purchases(Host& host, UserId user, int limit) {
  if (auto c = kpi_sql::check_list_limit(limit); !c.ok()) co_return std::move(c).error();
  const IntParams<2> p({user, limit});
  auto r = co_await host.execute(kListPurchases, p.pointers);
  if (!r.ok()) co_return std::move(r).error();
  std::vector<Purchase> out;
  for (int i = 0; i < r->rows(); ++i) {
    auto purchase = read_purchase(*r, i);
    if (!purchase.ok()) co_return std::move(purchase).error();
    out.push_back(std::move(purchase).value());
  }
  co_return out;
}

awaitable<Result<void>> pg_record_activity(Host& host, UtcDay day, std::vector<UserId> users) {
  if (users.empty()) co_return Result<void>{};
  const std::string day_text = std::to_string(day);
  std::string array = "{";
  for (std::size_t i = 0; i < users.size(); ++i) array += (i ? "," : "") + std::to_string(users[i]);
  array += "}";
  const std::array<const char*, 2> params{day_text.c_str(), array.c_str()};
  auto r = co_await host.execute(kRecordActivity, params);
  if (!r.ok()) co_return std::move(r).error();
  co_return Result<void>{};
}

awaitable<Result<DailyKpis>> pg_daily_kpis(Host& host, UtcDay day) {
  const IntParams<5> p(kpi_sql::daily_params(day));
  auto r = co_await host.execute(kDaily, p.pointers);
  if (!r.ok()) co_return std::move(r).error();
  const auto v = r->rows() == 1 ? ints<8>(*r, 0) : std::nullopt;
  if (!v) co_return Error{Errc::internal, "postgres: malformed daily KPIs"};
  const auto& n = *v;
  co_return DailyKpis{day, n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7]};
}

awaitable<Result<std::vector<Cohort>>> pg_cohorts(Host& host, UtcDay first, UtcDay last) {
  if (auto c = kpi_sql::check_cohort_range(first, last); !c.ok()) co_return std::move(c).error();
  const IntParams<8> p(kpi_sql::cohort_params(first, last));
  auto r = co_await host.execute(kCohorts, p.pointers);
  if (!r.ok()) co_return std::move(r).error();
  std::vector<Cohort> out;
  for (int i = 0; i < r->rows(); ++i) {
    const auto v = ints<5>(*r, i);
    if (!v) co_return Error{Errc::internal, "postgres: malformed cohort row"};
    const auto& n = *v;
    out.push_back(Cohort{n[0], n[1], {n[2], n[3], n[4]}});
  }
  co_return out;
}

}  // namespace ztm::storage
