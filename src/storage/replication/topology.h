#pragma once
// What the router knows about each host of a PostgreSQL cluster, and the routing rules that
// follow from it. Pure logic (no I/O), so the rules are unit-tested without a server.
//
// The router's discovery (replica_router.cc) asks every host every discovery interval:
//   pg_is_in_recovery()          primary (false) or replica (true)
//   position                     primary: pg_current_wal_insert_lsn(); replica: its replay LSN
//   streaming                    replica: its WAL receiver is streaming (pg_stat_wal_receiver)
//   timeline                     primary: its timeline (from pg_walfile_name); replica: the
//                                timeline it receives (received_tli). A promoted replica has a
//                                higher one than the primary it replaced.
// and reports the answer, stamped with when the question was sent, through update(). A failed
// call reports mark_down().
//
// Staleness is proven against the primary, never taken from the replica's own view (a replica
// cut off from its primary has replayed all it received and would call itself current). Each
// answer of the current primary is a sample (sent at s, position P): every write committed
// before s has its commit record at or before P. So a replica whose replay position R >= P has
// every write committed before s: it is **fresh as of s**, the newest such sample's s. A replica
// is readable at `now` only if it streams from the current primary's timeline and is fresh as of
// a time no older than `max_lag` before now. Cut off, paused, or left on an old timeline, its
// fresh-as-of time stops moving and it stops taking reads within max_lag; with no primary
// answering there are no new samples, so every replica stops within max_lag too.
//
// Routing rules:
//  - writes go to the primary; if several hosts claim to be primary (a promotion whose old
//    primary still runs), to the one on the highest timeline; none known -> no primary.
//  - a read (with a minimum position, 0 for none) goes round-robin to the readable replicas that
//    have replayed at least that position; when there is none, to the primary (all replicas
//    down or too stale -> read the primary); no primary either -> nothing (the caller answers
//    503: never staler than max_lag).
//
// Thread-safe: discovery updates it from its thread while event loops route on theirs.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

namespace ztm::storage {

enum class HostRole { down, primary, replica };

struct HostStatus {
  using Time = std::chrono::steady_clock::time_point;
  HostRole role = HostRole::down;
  std::uint64_t position = 0;  // an LSN: see above
  std::uint32_t timeline = 0;  // see above; 0: unknown
  bool streaming = false;      // replicas
  Time asked_at{};             // when discovery sent the question
};

// "16/B374D848" -> 0x16B374D848; nullopt for anything else.
std::optional<std::uint64_t> parse_lsn(std::string_view text);
std::string format_lsn(std::uint64_t lsn);

class Topology {
 public:
  Topology(std::size_t hosts, std::chrono::milliseconds max_lag);

  using Time = HostStatus::Time;

  void update(std::size_t host, const HostStatus& status);
  // A call to `host` failed as if it were down: it takes no reads until discovery finds it up.
  void mark_down(std::size_t host);

  std::optional<std::size_t> primary() const;
  // The host for a read at `now` that must see every write up to `min_position` (0: any),
  // skipping the hosts whose bit is set in `tried` (ones that failed this call already).
  std::optional<std::size_t> pick_read(std::uint64_t min_position, std::uint64_t tried, Time now);

  HostStatus status(std::size_t host) const;
  // How stale `host` may be at `now`, proven: 0 for the primary, now minus a replica's
  // fresh-as-of time; nullopt when nothing proves it (down, not streaming, another timeline,
  // behind every sample kept).
  std::optional<std::chrono::duration<double>> staleness(std::size_t host, Time now) const;
  std::size_t size() const { return hosts_.size(); }

 private:
  struct Sample {
    Time at;
    std::uint64_t position;
  };
  static constexpr std::size_t kSamples = 512;  // ~2 min at 250 ms: far more than max_lag

  std::optional<std::size_t> primary_locked() const;
  std::optional<Time> fresh_as_of(const HostStatus& s) const;  // REQUIRES: mu_ held
  bool readable_replica(const HostStatus& s, std::uint64_t min_position, Time now) const;

  const std::chrono::steady_clock::duration max_lag_;
  mutable std::mutex mu_;
  std::vector<HostStatus> hosts_;
  std::uint32_t samples_timeline_ = 0;  // the primary's timeline the samples are of
  std::deque<Sample> samples_;          // oldest first; positions never decrease
  std::atomic<std::uint64_t> next_{0};  // round robin over the eligible replicas
};

}  // namespace ztm::storage
