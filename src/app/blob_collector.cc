#include "app/blob_collector.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/log.h"

namespace ztm::app {

namespace asio = boost::asio;

BlobCollector::BlobCollector(PhotoService& photos, MetricsRegistry* metrics,
                             BlobCollectorOptions options)
    : photos_(photos), options_(options) {
  if (!metrics) return;
  auto counter = [metrics](const char* outcome) {
    return &metrics->counter("ztm_blob_collector_candidates_total",
                             "Removal candidates (blobs kept by the grace rule) a collection "
                             "pass handled: removed, kept (put again), in_use (dropped: a photo "
                             "holds the blob), failed (left for a later pass).",
                             {{"outcome", outcome}});
  };
  removed_ = counter("removed");
  kept_ = counter("kept");
  in_use_ = counter("in_use");
  failed_ = counter("failed");
}

asio::awaitable<Result<BlobCollection>> BlobCollector::collect_once() {
  auto pass = co_await photos_.collect_blobs(options_.batch);
  if (!pass) {
    if (!failing_)
      log::warn("blob collector: cannot list the candidates", {{"error", pass.error().message}});
    failing_ = true;
    co_return pass;
  }
  if (failing_) log::info("blob collector: listing the candidates again");
  failing_ = false;
  if (removed_) {
    removed_->inc(static_cast<std::uint64_t>(pass->removed));
    kept_->inc(static_cast<std::uint64_t>(pass->kept));
    in_use_->inc(static_cast<std::uint64_t>(pass->in_use));
    failed_->inc(static_cast<std::uint64_t>(pass->failed));
  }
  co_return pass;
}

asio::awaitable<void> BlobCollector::run() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(options_.interval);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;  // cancelled
    (void)co_await collect_once();
  }
}

}  // namespace ztm::app
