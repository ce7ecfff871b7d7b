#include "storage/replication/topology.h"

#include <fmt/format.h>

#include <charconv>

namespace ztm::storage {

std::optional<std::uint64_t> parse_lsn(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::uint32_t hi = 0, lo = 0;
  const char* end = text.data() + text.size();
  auto a = std::from_chars(text.data(), text.data() + slash, hi, 16);
  auto b = std::from_chars(text.data() + slash + 1, end, lo, 16);
  if (a.ec != std::errc{} || a.ptr != text.data() + slash || b.ec != std::errc{} || b.ptr != end ||
      slash == 0 || slash + 1 == text.size())
    return std::nullopt;
  return (std::uint64_t{hi} << 32) | lo;
}

std::string format_lsn(std::uint64_t lsn) {
  return fmt::format("{:X}/{:X}", lsn >> 32, lsn & 0xFFFFFFFFu);
}

Topology::Topology(std::size_t hosts, std::chrono::milliseconds max_lag)
    : max_lag_seconds_(static_cast<double>(max_lag.count()) / 1000.0), hosts_(hosts) {}

void Topology::update(std::size_t host, const HostStatus& status) {
  std::lock_guard lock(mu_);
  hosts_.at(host) = status;
}

void Topology::mark_down(std::size_t host) {
  std::lock_guard lock(mu_);
  hosts_.at(host).role = HostRole::down;
}

std::optional<std::size_t> Topology::primary() const {
  std::lock_guard lock(mu_);
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < hosts_.size(); ++i)
    if (hosts_[i].role == HostRole::primary &&
        (!best || hosts_[i].timeline > hosts_[*best].timeline))
      best = i;
  return best;
}

bool Topology::readable_replica(const HostStatus& s, std::uint64_t min_position) const {
  return s.role == HostRole::replica && s.lag_seconds && *s.lag_seconds <= max_lag_seconds_ &&
         s.position >= min_position;
}

std::optional<std::size_t> Topology::pick_read(std::uint64_t min_position, std::uint64_t tried) {
  std::size_t eligible[64];
  std::size_t n = 0;
  {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < hosts_.size() && i < 64; ++i)
      if ((tried & (std::uint64_t{1} << i)) == 0 && readable_replica(hosts_[i], min_position))
        eligible[n++] = i;
  }
  if (n > 0) return eligible[next_.fetch_add(1, std::memory_order_relaxed) % n];
  const auto p = primary();
  if (p && (tried & (std::uint64_t{1} << *p)) == 0) return p;
  return std::nullopt;
}

HostStatus Topology::status(std::size_t host) const {
  std::lock_guard lock(mu_);
  return hosts_.at(host);
}

}  // namespace ztm::storage
