#pragma once
// The business KPIs of a day (docs/kpis.md has the definitions): the exact rollups in SQL
// (storage/kpi_store.h) beside the live sketch's estimates of DAU/WAU/MAU
// (kpi/active_users_sketch.h), the day-1/7/30 retention of the sign-up cohorts, uploads, edits
// and revenue. GET /admin/kpis shows report(); refresh(), run by the node every
// kpi.refresh_interval_ms on its background loop, puts today's numbers in the /metrics gauges,
// so a scrape costs no query:
//   ztm_kpi_active_users{window="day|week|month",method="exact|sketch"}
//   ztm_kpi_signups, ztm_kpi_photos_uploaded, ztm_kpi_edits_done, ztm_kpi_purchases,
//   ztm_kpi_revenue_cents, ztm_kpi_retention_ratio{after_days="1|7|30"},
//   ztm_kpi_last_refresh_timestamp_seconds, ztm_kpi_refresh_failures_total
// No label is a user id.
//
// Errors: the store's (unavailable, overloaded). A failing sketch does not fail a report: its
// numbers are then absent and `sketch.error` says why; so are those of windows reaching past the
// days the sketch keeps (kpi::kRetainedDays before today).

#include <array>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/metrics.h"
#include "core/result.h"
#include "core/utc_day.h"
#include "kpi/active_users_sketch.h"
#include "kpi/hyperloglog.h"
#include "storage/kpi_store.h"

namespace ztm::app {

// A sign-up cohort's retention: of the `size` users who signed up on `cohort`, how many were
// active exactly kRetentionDays[i] days later, and that share. Absent while that day is after
// the report's day (not known yet), the share also when the cohort is empty.
struct Retention {
  UtcDay cohort = 0;
  std::int64_t size = 0;
  std::array<std::optional<std::int64_t>, storage::kRetentionDays.size()> active;
  std::array<std::optional<double>, storage::kRetentionDays.size()> share;
};

// The sketch's relative standard error (HyperLogLog with 2^14 registers, in-process or Redis).
inline constexpr double kSketchStandardError = kpi::HyperLogLog::kStandardError;

struct SketchCounts {
  std::optional<std::int64_t> dau, wau, mau;  // absent: the sketch failed or no longer has a day
  std::string error;                          // why some are absent
};

struct KpiReport {
  UtcDay day = 0;
  storage::DailyKpis exact;
  SketchCounts sketch;
  // The cohorts of the 31 days ending with `day` (day-30 .. day), oldest first, empty ones too.
  std::vector<Retention> retention;
};

// The retention table of the cohorts first..day from the store's rows (missing days: empty).
std::vector<Retention> retention_table(UtcDay first, UtcDay day,
                                       const std::vector<storage::Cohort>& cohorts);

class KpiService {
 public:
  static constexpr int kCohortDays = 31;  // day-30 .. day: every cohort with a day-30 number

  // REQUIRES: store, sketch, clock and metrics (may be null) outlive this.
  KpiService(storage::KpiStore& store, kpi::ActiveUserSketch& sketch, const Clock& clock,
             MetricsRegistry* metrics = nullptr);
  ~KpiService();

  UtcDay today() const { return utc_day(clock_.now()); }
  boost::asio::awaitable<Result<KpiReport>> report(UtcDay day);
  // Today's report into the gauges (counted in ztm_kpi_refresh_failures_total when it fails).
  boost::asio::awaitable<Result<void>> refresh();
  // refresh() now and every `period` until cancelled.
  boost::asio::awaitable<void> run(std::chrono::milliseconds period);

 private:
  struct Gauges;
  storage::KpiStore& store_;
  kpi::ActiveUserSketch& sketch_;
  const Clock& clock_;
  std::unique_ptr<Gauges> gauges_;  // null without a registry
};

}  // namespace ztm::app
