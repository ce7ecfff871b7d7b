#pragma once
// What the router knows about each host of a PostgreSQL cluster, and the routing rules that
// follow from it. Pure logic (no I/O), so the rules are unit-tested without a server.
//
// The router's discovery (replica_router.cc) asks every host about once a second:
//   pg_is_in_recovery()          primary (false) or replica (true)
//   position                     primary: pg_current_wal_insert_lsn(); replica: its replay LSN
//   lag                          replica only: 0 when it has replayed everything it received,
//                                else now() - pg_last_xact_replay_timestamp() (NULL: unknown)
//   timeline                     primary only, from pg_walfile_name(): a promoted replica has a
//                                higher one than the primary it replaced
// and reports the answer (or the failure) through update(). A failed call reports mark_down().
//
// Routing rules:
//  - writes go to the primary; if several hosts claim to be primary (a promotion whose old
//    primary still runs), to the one on the highest timeline; none known -> no primary.
//  - a read with a minimum position goes round-robin to the replicas that are up, lag at most
//    max_lag (unknown lag counts as too much), and have replayed at least that position; when
//    there is none, to the primary (the chapter's rule: all replicas down -> read the primary).
//
// Thread-safe: discovery updates it from its thread while event loops route on theirs.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

namespace ztm::storage {

enum class HostRole { down, primary, replica };

struct HostStatus {
  HostRole role = HostRole::down;
  std::uint64_t position = 0;         // an LSN: see above
  std::optional<double> lag_seconds;  // replicas; nullopt when unknown
  std::uint32_t timeline = 0;         // primaries
};

// "16/B374D848" -> 0x16B374D848; nullopt for anything else.
std::optional<std::uint64_t> parse_lsn(std::string_view text);
std::string format_lsn(std::uint64_t lsn);

class Topology {
 public:
  Topology(std::size_t hosts, std::chrono::milliseconds max_lag);

  void update(std::size_t host, const HostStatus& status);
  // A call to `host` failed as if it were down: it takes no reads until discovery finds it up.
  void mark_down(std::size_t host);

  std::optional<std::size_t> primary() const;
  // The host for a read that must see every write up to `min_position` (0: any), skipping the
  // hosts whose bit is set in `tried` (ones that failed this call already).
  std::optional<std::size_t> pick_read(std::uint64_t min_position, std::uint64_t tried);

  HostStatus status(std::size_t host) const;
  std::size_t size() const { return hosts_.size(); }

 private:
  bool readable_replica(const HostStatus& s, std::uint64_t min_position) const;

  const double max_lag_seconds_;
  mutable std::mutex mu_;
  std::vector<HostStatus> hosts_;
  std::atomic<std::uint64_t> next_{0};  // round robin over the eligible replicas
};

}  // namespace ztm::storage
