#include "app/outbox_relay.h"

#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <set>

#include "app/purge_keys.h"
#include "app/users.h"
#include "core/log.h"
#include "core/mix64.h"
#include "core/run_on.h"

namespace ztm::app {

boost::asio::awaitable<Result<void>> OutboxRelay::publish_purges(
    const std::vector<std::string>& keys, std::string dedup) {
  // Well under the queue's 64 KiB payload limit; a pass of 100 changes needs ~3 KB.
  constexpr std::size_t kMaxMessageBytes = 32 * 1024;
  const auto messages = purge_messages(keys, kMaxMessageBytes);
  for (const auto& e : options_.edges)
    for (std::size_t i = 0; i < messages.size(); ++i) {
      auto r =
          co_await e.queue->publish(dedup + "-" + std::to_string(i) + "-" + e.edge, messages[i]);
      if (!r) co_return r;
    }
  co_return Result<void>{};
}

boost::asio::awaitable<Result<void>> OutboxRelay::publish_sync(std::int64_t at_ms) {
  // Unique per pass and relay (several web servers sync the same queues): nothing to dedup.
  static std::atomic<std::uint64_t> counter{0};
  const std::string payload = R"({"sync_at":)" + std::to_string(at_ms) + "}";
  for (const auto& e : options_.edges) {
    std::string dedup = "sync-" + e.edge + "-" + std::to_string(at_ms) + "-" +
                        std::to_string(reinterpret_cast<std::uintptr_t>(this)) + "-" +
                        std::to_string(counter.fetch_add(1));
    auto r = co_await e.queue->publish(std::move(dedup), payload);
    if (!r) co_return r;
  }
  co_return Result<void>{};
}

boost::asio::awaitable<Result<int>> OutboxRelay::relay_once() {
  // Before reading the outbox: a change committed before this instant is in the batch, or was
  // published (by this relay or another) before this read (docs/cdn.md).
  const auto pass_began = options_.clock->now();
  auto batch = co_await photos_.outbox_batch(options_.batch);
  if (!batch) co_return std::move(batch).error();
  std::vector<std::int64_t> published;  // jobs as published, changes once their purges are
  std::vector<std::int64_t> changes;    // and follows: deleted once the pass's purge is published
  std::set<std::string> keys;           // of the changes: one purge for the whole pass
  std::set<UserId> counted;  // both users of each applied follow: one invalidate each a pass
  Result<void> failed;
  for (const auto& m : *batch) {
    if (m.topic == "change") {
      changes.push_back(m.id);
      if (options_.edges.empty()) continue;  // nobody to purge: only deleted
      auto k = keys_for_change(m.payload);
      if (!k) {
        log::warn("outbox relay: a change message without keys, dropped",
                  {{"error", k.error().message}});
        continue;
      }
      keys.insert(k->begin(), k->end());
      continue;
    }
    if (m.topic == "follow") {
      auto change = storage::parse_follow_payload(m.payload);
      if (!change.ok()) {
        log::warn("outbox relay: a malformed follow message, dropped",
                  {{"error", change.error().message}});
        published.push_back(m.id);
        continue;
      }
      const UserId follower = change->follower, followee = change->followee;
      if (auto applied = co_await follows_.apply_follow(std::move(*change)); !applied.ok()) {
        failed = std::move(applied).error();
        break;  // in order: the rest waits for the next pass
      }
      // The counts in both users' documents (also for a repeat: its purge may have failed).
      counted.insert({follower, followee});
      if (options_.edges.empty()) {
        published.push_back(m.id);
        continue;
      }
      changes.push_back(m.id);
      for (auto& k : keys_for_follow(follower, followee)) keys.insert(std::move(k));
      continue;
    }
    if (m.topic != "jobs") {
      log::warn("outbox relay: a message of an unknown topic, dropped", {{"topic", m.topic}});
      published.push_back(m.id);
      continue;
    }
    if (failed = co_await queue_.publish("outbox-" + std::to_string(m.id), m.payload); !failed)
      break;  // in order: the rest of the jobs waits for the next pass
    published.push_back(m.id);
  }
  if (!keys.empty()) {
    // Re-published with the same id if this pass fails before its delete and the next one
    // takes the same rows; a purge delivered twice is harmless. The id names every row (a
    // sharded outbox's ids are not one sequence: first and last do not say what lies between).
    std::uint64_t rows = 0;
    for (const std::int64_t id : changes) rows = mix64(rows ^ static_cast<std::uint64_t>(id));
    auto r = co_await publish_purges(
        {keys.begin(), keys.end()},
        fmt::format("outbox-{}-{}-{:016x}", changes.front(), changes.back(), rows));
    if (!r) {
      failed = std::move(r);
      changes.clear();
    }
  }
  // Before the deletes: a crash in between leaves the messages, applied again with this again.
  if (options_.users)
    for (const UserId user : counted) co_await options_.users->invalidate(user);
  published.insert(published.end(), changes.begin(), changes.end());
  const int count = static_cast<int>(published.size());
  if (!published.empty())
    if (auto d = co_await photos_.outbox_delete(std::move(published)); !d)
      co_return std::move(d).error();
  if (!failed) co_return std::move(failed).error();
  const auto now = options_.clock->steady_now();
  if (!options_.edges.empty() && count < options_.batch &&
      now - last_sync_ >= options_.sync_interval) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(pass_began.time_since_epoch())
            .count();
    if (auto s = co_await publish_sync(ms); !s) co_return std::move(s).error();
    last_sync_ = now;
  }
  co_return count;
}

void OutboxRelay::wake() {
  woken_.store(true, std::memory_order_release);
  std::lock_guard lock(timer_mu_);
  if (timer_) boost::asio::post(timer_->get_executor(), [timer = timer_] { timer->cancel(); });
}

boost::asio::awaitable<void> OutboxRelay::run() {
  namespace asio = boost::asio;
  co_await asio::this_coro::throw_if_cancelled(false);              // cancellation is checked below
  const auto state = co_await asio::this_coro::cancellation_state;  // sees later cancellation
  auto cancelled = [&state] { return state.cancelled() != asio::cancellation_type::none; };
  auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
  {
    std::lock_guard lock(timer_mu_);
    timer_ = timer;
  }
  while (!cancelled()) {
    woken_.store(false, std::memory_order_release);
    auto n = co_await run_to_completion(relay_once());
    if (!n) log::warn("outbox relay", {{"error", n.error().message}});
    if (cancelled()) break;  // it came during the pass: no wait is pending to abort
    if (n && *n == options_.batch) continue;                    // more may be waiting
    if (n && woken_.load(std::memory_order_acquire)) continue;  // a write came during the pass
    timer->expires_after(n ? options_.idle_wait : options_.error_wait);
    boost::system::error_code ec;  // operation_aborted: cancelled, or woken
    co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  std::lock_guard lock(timer_mu_);
  timer_.reset();
}

}  // namespace ztm::app
