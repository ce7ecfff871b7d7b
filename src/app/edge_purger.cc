#include "app/edge_purger.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <set>

#include "core/log.h"

namespace ztm::app {

namespace asio = boost::asio;

EdgePurger::EdgePurger(queue::Queue& queue, cdn::Edge& edge, MetricsRegistry* metrics,
                       EdgePurgerOptions options)
    : queue_(queue), edge_(edge), options_(options) {
  if (!metrics) return;
  const Labels labels{{"edge", edge.name()}};
  purges_ = &metrics->counter("ztm_cdn_purges_total", "Purges an edge confirmed.", labels);
  failures_ = &metrics->counter("ztm_cdn_purge_failures_total",
                                "Purges an edge did not confirm (each retry counts).", labels);
  synced_at_ = &metrics->gauge(
      "ztm_cdn_edge_synced_at_seconds",
      "The newest purge-stream sync an edge confirmed (unix time): every change committed "
      "before it has been purged there.",
      labels);
}

asio::awaitable<Result<int>> EdgePurger::purge_once() {
  auto batch = co_await queue_.fetch(options_.batch, options_.fetch_wait);
  if (!batch) co_return std::move(batch).error();
  if (batch->empty()) co_return 0;
  std::set<std::string> keys;
  std::optional<std::int64_t> synced_at;
  for (const auto& m : *batch) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(m.payload, ec);
    const auto* o = v.if_object();
    const auto* k = o ? o->if_contains("keys") : nullptr;
    const auto* s = o ? o->if_contains("sync_at") : nullptr;
    if (k && k->is_array()) {
      for (const auto& key : k->as_array())
        if (key.is_string()) keys.insert(std::string(key.as_string()));
    } else if (s && s->is_int64()) {
      synced_at = std::max(synced_at.value_or(0), s->as_int64());
    } else {
      log::warn("cdn purge: a message that is neither keys nor a sync, dropped",
                {{"edge", edge_.name()}, {"payload", m.payload.substr(0, 200)}});
    }
  }
  const std::vector<std::string> key_list(keys.begin(), keys.end());
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto delay = options_.first_retry;
  auto last_heartbeat = options_.clock->steady_now();
  for (;;) {
    auto purged = co_await edge_.purge(key_list, synced_at);
    if (purged) break;
    if (failures_) failures_->inc();
    if (!failing_)
      log::warn("cdn purge failing", {{"edge", edge_.name()}, {"error", purged.error().message}});
    failing_ = true;
    timer.expires_after(delay);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Error{Errc::unavailable, "cdn purge: stopped while retrying"};
    delay = std::min(delay * 2, options_.max_retry);
    if (options_.clock->steady_now() - last_heartbeat >= options_.heartbeat) {
      for (const auto& m : *batch) (void)co_await queue_.in_progress(m);
      last_heartbeat = options_.clock->steady_now();
    }
  }
  if (failing_) log::info("cdn purge confirmed again", {{"edge", edge_.name()}});
  failing_ = false;
  if (purges_) purges_->inc();
  if (synced_at && synced_at_) synced_at_->set(static_cast<double>(*synced_at) / 1000);
  for (const auto& m : *batch)
    if (auto acked = co_await queue_.ack(m); !acked)  // delivered again: purged twice, harmless
      log::warn("cdn purge: ack failed",
                {{"edge", edge_.name()}, {"error", acked.error().message}});
  co_return static_cast<int>(batch->size());
}

asio::awaitable<void> EdgePurger::run() {
  co_await asio::this_coro::throw_if_cancelled(false);
  const auto state = co_await asio::this_coro::cancellation_state;
  auto cancelled = [&state] { return state.cancelled() != asio::cancellation_type::none; };
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!cancelled()) {
    auto n = co_await purge_once();
    if (n || cancelled()) continue;
    log::warn("cdn purge: queue failed", {{"edge", edge_.name()}, {"error", n.error().message}});
    timer.expires_after(options_.max_retry);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace ztm::app
