#include "storage/sharding/load_reporter.h"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "core/log.h"

namespace ztm::storage {

namespace asio = boost::asio;

namespace {

// The detector's key for a user: the id's 8 bytes as they are, so that counting a call costs no
// formatting (hot_keys() hands them back; user_of reads them).
using UserKey = std::array<char, sizeof(UserId)>;

UserKey key_of(UserId id) {
  UserKey key;
  std::memcpy(key.data(), &id, key.size());
  return key;
}

UserId user_of(std::string_view key) {
  UserId id = 0;
  if (key.size() == sizeof id) std::memcpy(&id, key.data(), sizeof id);
  return id;
}

}  // namespace

LoadMeter::LoadMeter(HotKeyOptions users) : users_(users) {}

void LoadMeter::record_user(UserId id) {
  const UserKey key = key_of(id);
  users_.record(std::string_view(key.data(), key.size()));
}

LoadReport LoadMeter::take(const ShardMap& map) {
  std::lock_guard lock(take_mu_);
  LoadReport report;
  std::vector<BucketLoad> busy;
  for (std::size_t b = 0; b < reads_.size(); ++b) {
    const std::uint64_t r = reads_[b].load(std::memory_order_relaxed);
    const std::uint64_t w = writes_[b].load(std::memory_order_relaxed);
    const std::uint64_t dr = r - taken_reads_[b], dw = w - taken_writes_[b];
    taken_reads_[b] = r;
    taken_writes_[b] = w;
    report.requests += dr + dw;
    if (dr + dw > 0) busy.push_back({static_cast<int>(b), dr + dw, dw});
  }
  const auto busiest = [](const BucketLoad& a, const BucketLoad& b) {
    return a.requests != b.requests ? a.requests > b.requests : a.bucket < b.bucket;
  };
  const std::size_t kept = std::min(busy.size(), kReportedBuckets);
  std::partial_sort(busy.begin(), busy.begin() + static_cast<std::ptrdiff_t>(kept), busy.end(),
                    busiest);
  busy.resize(kept);
  report.buckets = std::move(busy);
  for (std::size_t s = 0; s < map.shards.size() && s < shard_calls_.size(); ++s) {
    const std::uint64_t n = shard_calls_[s].load(std::memory_order_relaxed);
    report.shards.emplace_back(map.shards[s].name, n - taken_shards_[s]);
    taken_shards_[s] = n;
  }
  for (const auto& hot : users_.hot_keys()) {
    const UserId id = user_of(hot.key);
    if (id > 0 && report.users.size() < kMaxReportedUsers)
      report.users.push_back({id, std::clamp(hot.share, 1e-9, 1.0)});
  }
  return report;
}

struct LoadReporter::Stats {
  std::atomic<std::uint64_t> reports{0};
  std::atomic<std::uint64_t> failed{0};
};

LoadReporter::LoadReporter(etcd::Client& client, LoadReporterOptions options, Take take,
                           const Clock& clock)
    : client_(client),
      options_(std::move(options)),
      take_(std::move(take)),
      clock_(clock),
      stats_(std::make_shared<Stats>()) {
  if (options_.key.empty() || !take_ || options_.interval.count() <= 0 || options_.node < 0 ||
      options_.node > 127 || options_.host.empty())
    throw std::invalid_argument("load reporter: a key, a host, a node 0..127 and an interval > 0");
  // What the report says must parse back: the host is checked the way readers check it.
  LoadReport probe;
  probe.node = options_.node;
  probe.host = options_.host;
  probe.map_version = 1;
  probe.interval_ms = 1;
  if (auto ok = parse_load_report(to_json(probe)); !ok)
    throw std::invalid_argument("load reporter: " + ok.error().message);
  tasks_.spawn(run());
}

std::chrono::seconds lease_ttl(std::chrono::milliseconds interval) {
  return std::max(std::chrono::seconds(3), std::chrono::ceil<std::chrono::seconds>(3 * interval));
}

LoadReporter::~LoadReporter() {
  tasks_.stop();
}

void LoadReporter::register_metrics(MetricsRegistry& registry) const {
  const auto stats = stats_;
  registry.callback(
      "ztm_shard_load_reports_total", "Load reports this server wrote to etcd", {},
      [stats] { return static_cast<double>(stats->reports.load()); }, "counter");
  registry.callback(
      "ztm_shard_load_reports_failed_total",
      "Load reports this server failed to write to etcd (the interval is not published)", {},
      [stats] { return static_cast<double>(stats->failed.load()); }, "counter");
}

// Ends when stop() cancels it: the timer's wait (or the put in flight, then the next co_await)
// throws operation_aborted, which TaskGroup takes as a normal stop.
asio::awaitable<void> LoadReporter::run() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto since = clock_.steady_now();
  bool failing = false;
  for (;;) {
    timer.expires_after(options_.interval);
    co_await timer.async_wait(asio::use_awaitable);
    LoadReport report = take_();
    const auto now = clock_.steady_now();
    report.node = options_.node;
    report.host = options_.host;
    report.at_ms = unix_ms(clock_.now());
    report.interval_ms = std::max<std::int64_t>(
        1, std::chrono::duration_cast<std::chrono::milliseconds>(now - since).count());
    since = now;
    // A lease per report, not one kept alive: two calls every interval, and nothing to renew.
    auto grant = client_.grant(lease_ttl(options_.interval));
    auto lease = co_await std::move(grant);
    Result<std::int64_t> written = lease.ok() ? Result<std::int64_t>(0) : lease;
    if (lease) {
      auto put = client_.put(options_.key, to_json(report), *lease);
      written = co_await std::move(put);
    }
    if (written) {
      stats_->reports.fetch_add(1, std::memory_order_relaxed);
      if (failing) log::info("shard load report written again", {{"key", options_.key}});
      failing = false;
      continue;
    }
    stats_->failed.fetch_add(1, std::memory_order_relaxed);
    if (!failing)
      log::warn("shard load report not written; requests are not affected",
                {{"key", options_.key}, {"error", written.error().message}});
    failing = true;
  }
}

}  // namespace ztm::storage
