#include "app/outbox_relay.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/log.h"
#include "core/run_on.h"

namespace ztm::app {

boost::asio::awaitable<Result<int>> OutboxRelay::relay_once() {
  auto batch = co_await photos_.outbox_batch(options_.batch);
  if (!batch) co_return std::move(batch).error();
  std::vector<std::int64_t> published;
  Result<void> failed;
  for (auto& m : *batch) {
    std::string dedup = "outbox-" + std::to_string(m.id);
    auto r = co_await queue_.publish(std::move(dedup), std::move(m.payload));
    if (!r) {
      failed = std::move(r).error();
      break;  // in order: the rest waits for the next pass
    }
    published.push_back(m.id);
  }
  const int count = static_cast<int>(published.size());
  if (!published.empty())
    if (auto d = co_await photos_.outbox_delete(std::move(published)); !d)
      co_return std::move(d).error();
  if (!failed) co_return std::move(failed).error();
  co_return count;
}

boost::asio::awaitable<void> OutboxRelay::run() {
  namespace asio = boost::asio;
  co_await asio::this_coro::throw_if_cancelled(false);              // cancellation is checked below
  const auto state = co_await asio::this_coro::cancellation_state;  // sees later cancellation
  auto cancelled = [&state] { return state.cancelled() != asio::cancellation_type::none; };
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!cancelled()) {
    auto n = co_await run_to_completion(relay_once());
    if (!n) log::warn("outbox relay", {{"error", n.error().message}});
    if (cancelled()) break;  // it came during the pass: no wait is pending to abort
    if (n && *n == options_.batch) continue;  // more may be waiting
    timer.expires_after(n ? options_.idle_wait : options_.error_wait);
    boost::system::error_code ec;  // operation_aborted: cancelled
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace ztm::app
