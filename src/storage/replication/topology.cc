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
    : max_lag_(max_lag), hosts_(hosts) {}

void Topology::update(std::size_t host, const HostStatus& status) {
  std::lock_guard lock(mu_);
  hosts_.at(host) = status;
  if (status.role != HostRole::primary || primary_locked() != host) return;
  if (status.timeline != samples_timeline_) {  // a promotion: the old samples say nothing
    samples_.clear();
    samples_timeline_ = status.timeline;
  }
  // Answers may arrive out of order; keep times and positions increasing.
  if (!samples_.empty() &&
      (status.asked_at <= samples_.back().at || status.position < samples_.back().position))
    return;
  samples_.push_back({status.asked_at, status.position});
  if (samples_.size() > kSamples) samples_.pop_front();
}

void Topology::mark_down(std::size_t host) {
  std::lock_guard lock(mu_);
  hosts_.at(host).role = HostRole::down;
}

std::optional<std::size_t> Topology::primary() const {
  std::lock_guard lock(mu_);
  return primary_locked();
}

std::optional<std::size_t> Topology::primary_locked() const {
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < hosts_.size(); ++i)
    if (hosts_[i].role == HostRole::primary &&
        (!best || hosts_[i].timeline > hosts_[*best].timeline))
      best = i;
  return best;
}

std::optional<Topology::Time> Topology::fresh_as_of(const HostStatus& s) const {
  if (s.role != HostRole::replica || !s.streaming || s.timeline != samples_timeline_)
    return std::nullopt;
  for (auto it = samples_.rbegin(); it != samples_.rend(); ++it)
    if (it->position <= s.position) return it->at;
  return std::nullopt;
}

bool Topology::readable_replica(const HostStatus& s, std::uint64_t min_position, Time now) const {
  const auto fresh = fresh_as_of(s);
  return fresh && now - *fresh <= max_lag_ && s.position >= min_position;
}

std::optional<std::size_t> Topology::pick_read(std::uint64_t min_position, std::uint64_t tried,
                                               Time now) {
  std::size_t eligible[64];
  std::size_t n = 0;
  std::optional<std::size_t> p;
  {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < hosts_.size() && i < 64; ++i)
      if ((tried & (std::uint64_t{1} << i)) == 0 && readable_replica(hosts_[i], min_position, now))
        eligible[n++] = i;
    p = primary_locked();
  }
  if (n > 0) return eligible[next_.fetch_add(1, std::memory_order_relaxed) % n];
  if (p && (tried & (std::uint64_t{1} << *p)) == 0) return p;
  return std::nullopt;
}

HostStatus Topology::status(std::size_t host) const {
  std::lock_guard lock(mu_);
  return hosts_.at(host);
}

std::optional<std::chrono::duration<double>> Topology::staleness(std::size_t host, Time now) const {
  std::lock_guard lock(mu_);
  const HostStatus& s = hosts_.at(host);
  if (s.role == HostRole::primary) return std::chrono::duration<double>(0);
  const auto fresh = fresh_as_of(s);
  if (!fresh) return std::nullopt;
  return std::chrono::duration<double>(now - *fresh);
}

}  // namespace ztm::storage
