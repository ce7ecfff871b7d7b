#include "lab/autoscaler.h"

#include <fmt/format.h>

#include <boost/json.hpp>

namespace ztm::lab {

namespace {

using Clock = Autoscaler::Clock;

// `since` is when a condition started to hold (epoch: it does not hold).
Clock::time_point holding_since(bool holds, Clock::time_point since, Clock::time_point now) {
  if (!holds) return Clock::time_point{};
  return since == Clock::time_point{} ? now : since;
}

bool held_for(Clock::time_point since, std::chrono::seconds d, Clock::time_point now) {
  return since != Clock::time_point{} && now - since >= d;
}

}  // namespace

double served_requests(const std::string& metrics) {
  double total = 0;
  std::size_t pos = 0;
  while (pos < metrics.size()) {
    auto end = metrics.find('\n', pos);
    if (end == std::string::npos) end = metrics.size();
    const std::string line = metrics.substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind("ztm_http_requests_total{", 0) != 0) continue;
    if (line.find("readyz") != std::string::npos || line.find("livez") != std::string::npos ||
        line.find("/metrics") != std::string::npos)
      continue;
    try {
      total += std::stod(line.substr(line.rfind(' ') + 1));
    } catch (const std::exception&) {
    }
  }
  return total;
}

Autoscaler::Decision Autoscaler::sample(const AutoscalePolicy& policy,
                                        const std::map<std::string, double>& counts, int servers,
                                        Clock::time_point now) {
  // The rate over the last interval, from the servers sampled both times (a server that just
  // joined or restarted has no comparable previous count).
  double delta = 0;
  int both = 0;
  for (const auto& [host, count] : counts)
    if (auto it = last_count_.find(host); it != last_count_.end() && count >= it->second) {
      delta += count - it->second;
      ++both;
    }
  const bool first = last_sample_ == Clock::time_point{};
  const double seconds = std::chrono::duration<double>(now - last_sample_).count();
  last_count_ = counts;
  last_sample_ = now;
  sampled_ = static_cast<int>(counts.size());
  if (first || both == 0 || seconds <= 0) return {servers, ""};
  load_rps_ = delta / seconds / both;

  above_since_ = holding_since(load_rps_ > policy.up_rps, above_since_, now);
  below_since_ = holding_since(load_rps_ < policy.down_rps, below_since_, now);
  if (last_change_ != Clock::time_point{} && now - last_change_ < policy.cooldown)
    return {servers, ""};
  if (servers < policy.min)
    return {servers + 1, fmt::format("{} servers, below min {}", servers, policy.min)};
  if (servers > policy.max)
    return {servers - 1, fmt::format("{} servers, above max {}", servers, policy.max)};
  if (held_for(above_since_, policy.up_after, now) && servers < policy.max)
    return {servers + 1, fmt::format("{:.0f} rps per server > {:.0f} for {} s", load_rps_,
                                     policy.up_rps, policy.up_after.count())};
  if (held_for(below_since_, policy.down_after, now) && servers > policy.min)
    return {servers - 1, fmt::format("{:.0f} rps per server < {:.0f} for {} s", load_rps_,
                                     policy.down_rps, policy.down_after.count())};
  return {servers, ""};
}

void Autoscaler::changed(Clock::time_point now) {
  last_change_ = now;
  above_since_ = below_since_ = Clock::time_point{};
  last_sample_ = Clock::time_point{};  // the next rate starts after the change
}

std::optional<std::int64_t> stream_messages(const std::string& jsz, const std::string& stream) {
  boost::system::error_code ec;
  const auto doc = boost::json::parse(jsz, ec);
  if (ec || !doc.is_object()) return std::nullopt;
  const auto* accounts = doc.as_object().if_contains("account_details");
  if (!accounts || !accounts->is_array()) return 0;
  for (const auto& account : accounts->as_array()) {
    const auto* streams =
        account.is_object() ? account.as_object().if_contains("stream_detail") : nullptr;
    if (!streams || !streams->is_array()) continue;
    for (const auto& s : streams->as_array()) {
      if (!s.is_object()) continue;
      const auto* name = s.as_object().if_contains("name");
      const auto* state = s.as_object().if_contains("state");
      if (!name || !name->is_string() || name->as_string() != stream || !state ||
          !state->is_object())
        continue;
      const auto* messages = state->as_object().if_contains("messages");
      if (messages && messages->is_number()) return messages->to_number<std::int64_t>();
    }
  }
  return 0;
}

WorkerAutoscaler::Decision WorkerAutoscaler::sample(const WorkerAutoscalePolicy& policy,
                                                    std::optional<std::int64_t> pending,
                                                    int workers, Clock::time_point now) {
  pending_ = pending;
  if (!pending) {
    above_since_ = empty_since_ = Clock::time_point{};
    return {workers, ""};
  }
  above_since_ = holding_since(*pending > policy.up_pending, above_since_, now);
  empty_since_ = holding_since(*pending == 0, empty_since_, now);
  if (last_change_ != Clock::time_point{} && now - last_change_ < policy.cooldown)
    return {workers, ""};
  if (workers < policy.min)
    return {workers + 1, fmt::format("{} workers, below min {}", workers, policy.min)};
  if (workers > policy.max)
    return {workers - 1, fmt::format("{} workers, above max {}", workers, policy.max)};
  if (held_for(above_since_, policy.up_after, now) && workers < policy.max)
    return {workers + 1, fmt::format("{} jobs pending > {} for {} s", *pending, policy.up_pending,
                                     policy.up_after.count())};
  if (held_for(empty_since_, policy.down_after, now) && workers > policy.min)
    return {workers - 1, fmt::format("queue empty for {} s", policy.down_after.count())};
  return {workers, ""};
}

void WorkerAutoscaler::changed(Clock::time_point now) {
  last_change_ = now;
  above_since_ = empty_since_ = Clock::time_point{};
}

}  // namespace ztm::lab
