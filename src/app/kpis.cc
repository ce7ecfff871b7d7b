#include "app/kpis.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <limits>

#include "core/log.h"

namespace ztm::app {

using storage::kRetentionDays;

struct KpiService::Gauges {
  explicit Gauges(MetricsRegistry& m) {
    const char* windows[] = {"day", "week", "month"};
    const char* methods[] = {"exact", "sketch"};
    for (int w = 0; w < 3; ++w)
      for (int k = 0; k < 2; ++k)
        active[w][k] = &m.gauge("ztm_kpi_active_users",
                                "Distinct users active (an authenticated request) in the UTC "
                                "day, 7 or 30 days ending today; exact (SQL) or sketch "
                                "(HyperLogLog, 0.81 % standard error).",
                                {{"window", windows[w]}, {"method", methods[k]}});
    signups = &m.gauge("ztm_kpi_signups", "Sign-ups today (UTC) so far.");
    photos = &m.gauge("ztm_kpi_photos_uploaded", "Photos uploaded today (UTC) so far.");
    edits = &m.gauge("ztm_kpi_edits_done", "Photo edits done today (UTC) so far.");
    purchases = &m.gauge("ztm_kpi_purchases", "Purchases today (UTC) so far.");
    revenue = &m.gauge("ztm_kpi_revenue_cents",
                       "Revenue today (UTC) so far, in cents of the catalogue's currency (USD).");
    for (std::size_t i = 0; i < kRetentionDays.size(); ++i)
      retention[i] = &m.gauge(
          "ztm_kpi_retention_ratio",
          "Share of the users who signed up N days before today active today (UTC) so far; NaN "
          "when nobody signed up that day.",
          {{"after_days", std::to_string(kRetentionDays[i])}});
    refreshed = &m.gauge("ztm_kpi_last_refresh_timestamp_seconds",
                         "When the KPI gauges were last computed (Unix time).");
    failures = &m.counter("ztm_kpi_refresh_failures_total", "KPI gauge refreshes that failed.");
  }
  Gauge* active[3][2] = {};
  Gauge *signups, *photos, *edits, *purchases, *revenue, *refreshed;
  std::array<Gauge*, kRetentionDays.size()> retention{};
  Counter* failures;
};

std::vector<Retention> retention_table(UtcDay first, UtcDay day,
                                       const std::vector<storage::Cohort>& cohorts) {
  std::vector<Retention> out;
  auto next = cohorts.begin();
  for (UtcDay d = first; d <= day; ++d) {
    Retention r{.cohort = d};
    while (next != cohorts.end() && next->day < d) ++next;
    const bool found = next != cohorts.end() && next->day == d;
    r.size = found ? next->size : 0;
    for (std::size_t i = 0; i < kRetentionDays.size(); ++i) {
      if (d + kRetentionDays[i] > day) continue;  // that day has not come yet
      r.active[i] = found ? next->active[i] : 0;
      if (r.size > 0) r.share[i] = static_cast<double>(*r.active[i]) / static_cast<double>(r.size);
    }
    out.push_back(std::move(r));
  }
  return out;
}

KpiService::KpiService(storage::KpiStore& store, kpi::ActiveUserSketch& sketch, const Clock& clock,
                       MetricsRegistry* metrics)
    : store_(store),
      sketch_(sketch),
      clock_(clock),
      gauges_(metrics ? std::make_unique<Gauges>(*metrics) : nullptr) {}

KpiService::~KpiService() = default;

boost::asio::awaitable<Result<KpiReport>> KpiService::report(UtcDay day) {
  KpiReport out{.day = day};
  auto exact = co_await store_.daily_kpis(day);
  if (!exact) co_return std::move(exact).error();
  out.exact = *exact;
  const UtcDay first = day - (kCohortDays - 1);
  auto cohorts = co_await store_.cohorts(first, day);
  if (!cohorts) co_return std::move(cohorts).error();
  out.retention = retention_table(first, day, *cohorts);
  // The sketch's windows, as the exact ones (kpi_sql.h): the day, 7 and 30 days ending with it;
  // a window reaching past the days the sketch keeps has no estimate (it would count them empty).
  std::optional<std::int64_t>* counts[] = {&out.sketch.dau, &out.sketch.wau, &out.sketch.mau};
  const int spans[] = {1, 7, 30};
  const UtcDay oldest_kept = today() - kpi::kRetainedDays + 1;
  for (int i = 0; i < 3; ++i) {
    if (day - spans[i] + 1 < oldest_kept) {
      out.sketch.error = "the sketch keeps the last 35 days only";
      continue;
    }
    auto n = co_await sketch_.count(day - spans[i] + 1, day);
    if (!n) {
      out.sketch = SketchCounts{.error = n.error().message};
      break;
    }
    *counts[i] = *n;
  }
  co_return out;
}

boost::asio::awaitable<Result<void>> KpiService::refresh() {
  const UtcDay day = today();
  auto r = co_await report(day);
  if (!gauges_) co_return r.ok() ? Result<void>{} : Result<void>(r.error());
  Gauges& g = *gauges_;
  if (!r) {
    g.failures->inc();
    log::warn("KPI refresh failed", {{"error", r.error().message}});
    co_return r.error();
  }
  const auto& e = r->exact;
  const std::int64_t exact[] = {e.dau, e.wau, e.mau};
  const std::optional<std::int64_t> sketch[] = {r->sketch.dau, r->sketch.wau, r->sketch.mau};
  for (int w = 0; w < 3; ++w) {
    g.active[w][0]->set(static_cast<double>(exact[w]));
    if (sketch[w]) g.active[w][1]->set(static_cast<double>(*sketch[w]));
  }
  g.signups->set(static_cast<double>(e.signups));
  g.photos->set(static_cast<double>(e.photos_uploaded));
  g.edits->set(static_cast<double>(e.edits_done));
  g.purchases->set(static_cast<double>(e.purchases));
  g.revenue->set(static_cast<double>(e.revenue_cents));
  // The cohort that is N days old today: its row N from the end of the table.
  for (std::size_t i = 0; i < kRetentionDays.size(); ++i) {
    const auto& row = r->retention[r->retention.size() - 1 - kRetentionDays[i]];
    g.retention[i]->set(row.share[i].value_or(std::numeric_limits<double>::quiet_NaN()));
  }
  g.refreshed->set(static_cast<double>(unix_ms(clock_.now())) / 1000.0);
  co_return Result<void>{};
}

boost::asio::awaitable<void> KpiService::run(std::chrono::milliseconds period) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (;;) {
    (void)co_await refresh();
    timer.expires_after(period);
    auto [ec] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec) co_return;  // cancelled
  }
}

}  // namespace ztm::app
