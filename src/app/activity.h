#pragma once
// Who was active today: a user is active on a UTC day they made an authenticated request
// (docs/kpis.md). AccountService::authenticate calls seen() on every such request; this records
// (user, day) once per process and day, in the database's activity table (the exact rollups)
// and in the live sketch (kpi/active_users_sketch.h), without a store write per request:
//
//  - seen() looks the user up in a "seen today" set (memory only, a lock, no I/O). A user seen
//    before today is done. A new one is added to the set and to the rows waiting to be written.
//  - flush() (every kpi.activity_flush_ms, on the node's background loop) writes the waiting
//    rows in one transaction per day (insert-if-absent, so another server's or a retry's row of
//    the same pair is harmless) and adds them to the sketch.
//  - The set is cleared when the clock's UTC day changes (the injected clock: tests simulate
//    days), so each user is written once per day per process.
//
// Bounds: the set holds at most max_seen users. When it is full, a user not in it falls back to
// writing: its row waits for the next flush like a new user's (rows waiting are deduplicated per
// day), so the activity stays exact and costs at most one insert per such user per flush. The
// rows waiting are bounded too (max_pending): beyond it, while the database cannot keep up or
// is down, rows are dropped and counted (ztm_kpi_activity_dropped_total). A failed flush puts
// its rows back (within that bound). A crash loses at most one flush period of rows; the
// restarted process writes a user again on their next request that day.
//
// Thread-safe: seen() from any event loop; flush() from one task at a time.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_set>

#include "core/clock.h"
#include "core/ids.h"
#include "core/metrics.h"
#include "core/utc_day.h"
#include "kpi/active_users_sketch.h"
#include "storage/kpi_store.h"

namespace ztm::app {

struct ActivityOptions {
  std::size_t max_seen = 1'000'000;   // users in the "seen today" set (8-byte ids, ~40 MB full)
  std::size_t max_pending = 100'000;  // rows waiting for a flush
  const Clock* clock = &Clock::system();
};

class ActivityTracker {
 public:
  // REQUIRES: store, sketch, the clock and `metrics` (may be null) outlive this.
  ActivityTracker(storage::KpiStore& store, kpi::ActiveUserSketch& sketch, ActivityOptions options,
                  MetricsRegistry* metrics = nullptr);

  // `user` made an authenticated request now. Never blocks on I/O.
  void seen(UserId user);

  // Writes the waiting rows (store, then sketch); on a failure puts them back and returns it.
  boost::asio::awaitable<Result<void>> flush();
  // flush() every `period` until cancelled, then once more (what the last period saw).
  boost::asio::awaitable<void> run(std::chrono::milliseconds period);

  std::size_t seen_today() const;
  std::size_t pending() const;
  std::uint64_t dropped() const { return dropped_ ? dropped_->value() : local_dropped_; }

 private:
  // REQUIRES: mu_ held.
  void add_pending(UtcDay day, UserId user);

  storage::KpiStore& store_;
  kpi::ActiveUserSketch& sketch_;
  ActivityOptions options_;
  Counter* dropped_ = nullptr;
  Counter* flush_failures_ = nullptr;
  std::uint64_t local_dropped_ = 0;  // without a registry
  mutable std::mutex mu_;
  UtcDay day_ = 0;
  std::unordered_set<UserId> seen_;
  std::map<UtcDay, std::unordered_set<UserId>> pending_;
  std::size_t pending_rows_ = 0;
};

}  // namespace ztm::app
