#include "app/activity.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <vector>

#include "core/log.h"

namespace ztm::app {

ActivityTracker::ActivityTracker(storage::KpiStore& store, kpi::ActiveUserSketch& sketch,
                                 ActivityOptions options, MetricsRegistry* metrics)
    : store_(store), sketch_(sketch), options_(options) {
  day_ = utc_day(options_.clock->now());
  if (!metrics) return;
  dropped_ = &metrics->counter("ztm_kpi_activity_dropped_total",
                               "Activity rows dropped because too many waited for a flush.");
  flush_failures_ = &metrics->counter("ztm_kpi_activity_flush_failures_total",
                                      "Activity flushes that failed (their rows wait again).");
  metrics->callback("ztm_kpi_seen_users", "Users in this process's seen-today set.", {},
                    [this] { return static_cast<double>(seen_today()); });
}

void ActivityTracker::add_pending(UtcDay day, UserId user) {
  if (pending_rows_ >= options_.max_pending) {
    dropped_ ? dropped_->inc() : void(++local_dropped_);
    return;
  }
  if (pending_[day].insert(user).second) ++pending_rows_;
}

void ActivityTracker::seen(UserId user) {
  const UtcDay today = utc_day(options_.clock->now());
  std::lock_guard lock(mu_);
  if (today > day_) {  // a new day: everyone is new again
    seen_.clear();
    day_ = today;
  } else if (today < day_) {  // read before another thread moved to the next day: its own row
    add_pending(today, user);
    return;
  }
  if (seen_.contains(user)) return;
  if (seen_.size() < options_.max_seen) seen_.insert(user);  // else: written every flush
  add_pending(today, user);
}

boost::asio::awaitable<Result<void>> ActivityTracker::flush() {
  std::map<UtcDay, std::unordered_set<UserId>> rows;
  {
    std::lock_guard lock(mu_);
    rows.swap(pending_);
    pending_rows_ = 0;
  }
  Result<void> outcome;
  for (auto& [day, users] : rows) {
    std::vector<UserId> list(users.begin(), users.end());
    Result<void> r = co_await store_.record_activity(day, list);
    if (r.ok()) r = co_await sketch_.add(day, std::move(list));
    if (r.ok()) {
      users.clear();
    } else if (outcome.ok()) {
      outcome = std::move(r);
    }
  }
  if (outcome.ok()) co_return outcome;
  if (flush_failures_) flush_failures_->inc();
  log::warn("activity flush failed", {{"error", outcome.error().message}});
  std::lock_guard lock(mu_);  // both writes are idempotent: the rows are simply written again
  for (const auto& [day, users] : rows)
    for (UserId u : users) add_pending(day, u);
  co_return outcome;
}

boost::asio::awaitable<void> ActivityTracker::run(std::chrono::milliseconds period) {
  // The last flush runs after the cancellation: it must not be refused by it. So the loop asks
  // whether it was cancelled (during the wait or during a flush) instead of being thrown out.
  co_await boost::asio::this_coro::throw_if_cancelled(false);
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (;;) {
    timer.expires_after(period);
    (void)co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    (void)co_await flush();
    const auto state = co_await boost::asio::this_coro::cancellation_state;
    if (state.cancelled() != boost::asio::cancellation_type::none) co_return;  // that was the last
  }
}

std::size_t ActivityTracker::seen_today() const {
  std::lock_guard lock(mu_);
  return seen_.size();
}

std::size_t ActivityTracker::pending() const {
  std::lock_guard lock(mu_);
  return pending_rows_;
}

}  // namespace ztm::app
