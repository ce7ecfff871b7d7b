#pragma once
// The KPI conformance suite: a scripted population lived through simulated days (a ManualClock
// moved day by day; ids, activity days and purchases all read it) on a real backend, then every
// number of the day's report compared with the value worked out by hand below. Each backend's
// test file instantiates it with a Factory:
//   struct Factory { static std::unique_ptr<Backend> make(); };
// where Backend has `storage::Database& db()` and `template <class T> T run(awaitable<T>)`.
//
// The population (day 0 = 2025-06-01, UTC):
//   cohort A, 10 users signed up on day 0, all active that day; a0..a4 back on day 1, a0..a2 on
//     day 7, a0 and a1 on day 30.
//   cohort B, 4 users signed up on day 1, active that day; b0 and b1 back on day 2, b0 on day 8.
//   cohort C, 2 users signed up on day 7, active that day; c0 back on day 8.
//   purchases: a0 storage-1tb on day 0; b0 and b1 storage-100gb on day 1; c0 storage-1tb on day
//     7 (sent twice with one Idempotency-Key); a1 storage-100gb on day 30.
//   photos: a0 uploads 2 on day 0, a1 one on day 1; a0's edit asked on day 1 is done on day 2.

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <ostream>

#include "app/activity.h"
#include "app/kpis.h"
#include "app/purchases.h"
#include "core/manual_clock.h"
#include "kpi/hyperloglog.h"
#include "kpi/local/local_sketch.h"
#include "storage/database.h"

namespace ztm::storage {
// Readable failures (found by argument-dependent lookup).
inline void PrintTo(const DailyKpis& k, std::ostream* os) {
  *os << "{day " << iso_date(k.day) << ": dau " << k.dau << ", wau " << k.wau << ", mau " << k.mau
      << ", signups " << k.signups << ", uploads " << k.photos_uploaded << ", edits "
      << k.edits_done << ", purchases " << k.purchases << ", revenue " << k.revenue_cents << "}";
}
}  // namespace ztm::storage

namespace ztm::test {

using namespace std::chrono_literals;

template <class Factory>
class KpiPopulation : public ::testing::Test {
 protected:
  KpiPopulation()
      : backend_(Factory::make()),
        ids_(3, clock_),
        activity_(db(), sketch_, app::ActivityOptions{.clock = &clock_}),
        purchases_(db(), ids_),
        kpis_(db(), sketch_, clock_) {}

  storage::Database& db() { return backend_->db(); }
  template <class T>
  T run(boost::asio::awaitable<T> aw) {
    return backend_->run(std::move(aw));
  }

  // Moves the clock to 10:00 UTC of day `d` (days only go forward), flushing what was seen.
  void go_to(int d) {
    ASSERT_TRUE(run(activity_.flush()).ok());
    const auto target = ManualClock::kDefaultStart + std::chrono::days(d) + 10h;
    clock_.advance(target - clock_.now());
  }
  UtcDay day(int d) const { return utc_day(ManualClock::kDefaultStart) + d; }

  // A user signs up now (an account, as POST /accounts makes one) and is active now.
  UserId sign_up(const std::string& name) {
    storage::User user{.id = ids_.next(), .first_name = name, .last_name = "Test"};
    storage::Account account{user.id, name + "@example.com", "hash", "user"};
    const auto r = run(db().create_account(std::move(user), std::move(account)));
    EXPECT_TRUE(r.ok()) << r.error().message;
    users_[name] = r->user.id;
    activity_.seen(r->user.id);
    return r->user.id;
  }
  void active(std::initializer_list<const char*> names) {
    for (const char* n : names) activity_.seen(users_.at(n)), activity_.seen(users_.at(n));
  }
  void buy(const char* name, const char* plan, std::optional<std::string> key = std::nullopt) {
    const auto r = run(purchases_.buy(users_.at(name), plan, std::move(key)));
    EXPECT_TRUE(r.ok()) << r.error().message;
  }
  storage::PhotoId upload(const char* name, storage::PhotoId source = 0) {
    storage::Photo p{ids_.next(), users_.at(name), "0000.jpg", "image/jpeg", 10, 10, 100, source};
    const auto r = run(db().create_photo(p));
    EXPECT_TRUE(r.ok()) << r.error().message;
    return p.id;
  }

  void live_the_population() {
    go_to(0);
    for (int i = 0; i < 10; ++i) sign_up("a" + std::to_string(i));
    buy("a0", "storage-1tb");
    const auto photo = upload("a0");
    upload("a0");
    go_to(1);
    active({"a0", "a1", "a2", "a3", "a4"});
    for (int i = 0; i < 4; ++i) sign_up("b" + std::to_string(i));
    buy("b0", "storage-100gb");
    buy("b1", "storage-100gb");
    upload("a1");
    const storage::Job job{ids_.next(), photo, users_.at("a0"), "[]"};
    ASSERT_TRUE(run(db().create_job(job, "{}")).ok());
    go_to(2);
    active({"b0", "b1"});
    storage::Photo edited{ids_.next(), users_.at("a0"), "0001.jpg", "image/jpeg", 5, 5, 50, photo};
    ASSERT_TRUE(run(db().complete_job(job.id, edited)).ok());
    go_to(7);
    active({"a0", "a1", "a2"});
    sign_up("c0");
    sign_up("c1");
    buy("c0", "storage-1tb", "retry-me");
    buy("c0", "storage-1tb", "retry-me");  // the client's retry: no second purchase
    go_to(8);
    active({"b0", "c0"});
    go_to(30);
    active({"a0", "a1"});
    buy("a1", "storage-100gb");
    go_to(31);  // flushes day 30
  }

  storage::DailyKpis exact(int d) {
    auto r = run(db().daily_kpis(day(d)));
    EXPECT_TRUE(r.ok()) << r.error().message;
    return *r;
  }
  app::KpiReport report(int d) {
    auto r = run(kpis_.report(day(d)));
    EXPECT_TRUE(r.ok()) << r.error().message;
    return *r;
  }

  ManualClock clock_;
  std::unique_ptr<typename decltype(Factory::make())::element_type> backend_;
  IdGenerator ids_;
  kpi::LocalActiveUserSketch sketch_;
  app::ActivityTracker activity_;
  app::PurchaseService purchases_;
  app::KpiService kpis_;
  std::map<std::string, UserId> users_;
};

TYPED_TEST_SUITE_P(KpiPopulation);

TYPED_TEST_P(KpiPopulation, DailyCountsAreExact) {
  this->live_the_population();
  // day, dau, wau, mau, sign-ups, uploads, edits, purchases, revenue
  const std::vector<storage::DailyKpis> expected = {
      {this->day(0), 10, 10, 10, 10, 2, 0, 1, 999}, {this->day(1), 9, 14, 14, 4, 1, 0, 2, 398},
      {this->day(2), 2, 14, 14, 0, 0, 1, 0, 0},     {this->day(7), 5, 11, 16, 2, 0, 0, 1, 999},
      {this->day(8), 2, 7, 16, 0, 0, 0, 0, 0},      {this->day(29), 0, 0, 16, 0, 0, 0, 0, 0},
      {this->day(30), 2, 2, 11, 0, 0, 0, 1, 199},   {this->day(31), 0, 2, 7, 0, 0, 0, 0, 0},
  };
  for (const auto& want : expected) {
    SCOPED_TRACE(iso_date(want.day));
    EXPECT_EQ(this->exact(static_cast<int>(want.day - this->day(0))), want);
  }
}

TYPED_TEST_P(KpiPopulation, RetentionTableIsExact) {
  this->live_the_population();
  const app::KpiReport r = this->report(30);
  ASSERT_EQ(r.retention.size(), 31u);  // cohorts of days 0..30
  using Row = std::tuple<std::int64_t, std::optional<std::int64_t>, std::optional<std::int64_t>,
                         std::optional<std::int64_t>>;
  auto row = [&](int d) {
    const auto& x = r.retention.at(static_cast<std::size_t>(d));
    EXPECT_EQ(x.cohort, this->day(d));
    return Row{x.size, x.active[0], x.active[1], x.active[2]};
  };
  const auto none = std::nullopt;
  EXPECT_EQ(row(0), (Row{10, 5, 3, 2}));
  EXPECT_EQ(row(1), (Row{4, 2, 1, none}));  // its day 30 is day 31: not yet
  EXPECT_EQ(row(7), (Row{2, 1, 0, none}));
  EXPECT_EQ(row(3), (Row{0, 0, 0, none}));  // nobody signed up
  EXPECT_EQ(row(29), (Row{0, 0, none, none}));
  EXPECT_EQ(row(30), (Row{0, none, none, none}));
  const auto& a = r.retention[0];
  EXPECT_DOUBLE_EQ(*a.share[0], 0.5);
  EXPECT_DOUBLE_EQ(*a.share[1], 0.3);
  EXPECT_DOUBLE_EQ(*a.share[2], 0.2);
  EXPECT_DOUBLE_EQ(*r.retention[1].share[1], 0.25);
  EXPECT_FALSE(r.retention[3].share[0]);  // 0 of 0: no share

  // On day 7, cohort A's day 30 is not known yet, nor cohort B's day 7.
  const app::KpiReport r7 = this->report(7);
  EXPECT_EQ(r7.retention.back().cohort, this->day(7));
  const auto& cohort_a = r7.retention[r7.retention.size() - 8];
  EXPECT_EQ(cohort_a.cohort, this->day(0));
  EXPECT_EQ(cohort_a.active[0], 5);
  EXPECT_EQ(cohort_a.active[1], 3);
  EXPECT_FALSE(cohort_a.active[2]);
  const auto& cohort_b = r7.retention[r7.retention.size() - 7];
  EXPECT_EQ(cohort_b.active[0], 2);
  EXPECT_FALSE(cohort_b.active[1]);
}

// The report is made on day 31: the sketch keeps days -3..31, so day 0's DAU is estimated but
// not its WAU (days -6..0) nor its MAU; day 30's MAU (days 1..30) is.
TYPED_TEST_P(KpiPopulation, SketchAgreesWithTheExactCounts) {
  this->live_the_population();
  for (int d : {0, 1, 7, 8, 30}) {
    SCOPED_TRACE(d);
    const app::KpiReport r = this->report(d);
    ASSERT_TRUE(r.sketch.dau) << r.sketch.error;
    EXPECT_EQ(r.sketch.wau.has_value(), d - 6 >= -3);
    EXPECT_EQ(r.sketch.mau.has_value(), d - 29 >= -3);
    const std::pair<std::int64_t, std::optional<std::int64_t>> pairs[] = {
        {r.exact.dau, r.sketch.dau}, {r.exact.wau, r.sketch.wau}, {r.exact.mau, r.sketch.mau}};
    for (const auto& [exact, sketch] : pairs) {
      if (!sketch) continue;
      const double bound = std::max(1.0, 3 * kpi::HyperLogLog::kStandardError * exact);
      EXPECT_LE(std::abs(static_cast<double>(*sketch - exact)), bound);
    }
  }
}

TYPED_TEST_P(KpiPopulation, PurchasesAreListedNewestFirstWithTheirKey) {
  this->live_the_population();
  auto c0 = this->run(this->db().list_purchases(this->users_.at("c0"), 10));
  ASSERT_TRUE(c0.ok());
  ASSERT_EQ(c0->size(), 1u);  // the retry made nothing
  EXPECT_EQ((*c0)[0].plan, "storage-1tb");
  EXPECT_EQ((*c0)[0].price_cents, 999);
  EXPECT_EQ((*c0)[0].currency, "USD");
  // The same key for another plan: the first purchase comes back; the service calls it a conflict.
  auto other = this->run(this->purchases_.buy(this->users_.at("c0"), "storage-100gb", "retry-me"));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, Errc::conflict);
  // Another user may use the same key.
  auto b2 = this->run(this->purchases_.buy(this->users_.at("b2"), "storage-100gb", "retry-me"));
  ASSERT_TRUE(b2.ok());
  auto a1 = this->run(this->db().list_purchases(this->users_.at("a1"), 10));
  ASSERT_TRUE(a1.ok());
  EXPECT_EQ(a1->size(), 1u);
}

REGISTER_TYPED_TEST_SUITE_P(KpiPopulation, DailyCountsAreExact, RetentionTableIsExact,
                            SketchAgreesWithTheExactCounts,
                            PurchasesAreListedNewestFirstWithTheirKey);

}  // namespace ztm::test
