// ztm worker: the photo workers as a process of their own (figure 1-18's worker hosts). Takes
// jobs from the configured queue, reads and writes photo bytes in the blob store and jobs in the
// database; serves /healthz and /metrics (jobs done/failed, durations, queue depth) on
// http.address:http.port. SIGTERM/SIGINT: stop fetching, finish the jobs in hand, exit 0 (a job
// cut off by a crash is redelivered by the queue after its ack wait).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "app/photo_worker.h"
#include "core/task_group.h"
#include "cli/commands.h"
#include "cli/wiring.h"
#include "core/log.h"
#include "http/server.h"
#include "queue/open.h"

namespace ztm::cli {

namespace {

// Samples the queue's depth into a gauge (the number workers are scaled by) every second.
boost::asio::awaitable<void> sample_depth(Queue& queue, Gauge& depth, const std::atomic<bool>& stop) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  while (!stop) {
    if (auto n = co_await queue.pending()) depth.set(static_cast<double>(*n));
    timer.expires_after(std::chrono::seconds(1));
    boost::system::error_code ec;
    co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  }
}

}  // namespace

int worker(const Config& config) {
  MetricsRegistry metrics;
  register_process_metrics(metrics);
  auto storage = open_storage(config, metrics, /*migrate=*/config.storage.migrate_on_start);
  auto blobs = open_blob_store(config, /*migrate=*/config.storage.migrate_on_start);
  auto queue = open_queue(queue_config(config));
  IdGenerator ids(config.node_id);
  PhotoWorker photo_worker(*queue, storage.photos(), *blobs, ids, &metrics, worker_options(config));
  Gauge& depth = metrics.gauge("ztm_queue_pending", "Jobs in the queue not yet done (sampled).");
  std::atomic<bool> stopping{false};

  TaskGroup background;
  background.spawn(photo_worker.run());
  background.spawn(sample_depth(*queue, depth, stopping));

  // Health and metrics only: the worker takes no requests.
  http::Server server({.address = config.http.address,
                       .port = static_cast<unsigned short>(config.http.port),
                       .threads = 1},
                      [&metrics, &stopping](http::Request& req) -> boost::asio::awaitable<http::Response> {
                        http::Response res;
                        if (req.path == "/metrics") {
                          res.content_type = "text/plain; version=0.0.4; charset=utf-8";
                          res.body = metrics.render();
                        } else if (req.path == "/healthz" || req.path == "/readyz") {
                          if (stopping) res = http::json_error(503, "draining", "the worker is stopping");
                          else res.body = R"({"status":"ok"})";
                        } else {
                          res = http::json_error(404, "not_found", "a worker serves /healthz and /metrics");
                        }
                        co_return res;
                      });
  boost::asio::io_context signals_ioc(1);
  boost::asio::signal_set signals(signals_ioc, SIGTERM, SIGINT);
  server.start();
  log::info("worker started", {{"queue", config.queue.backend}, {"concurrency", config.worker.concurrency},
                               {"metrics", fmt::format("http://{}:{}/metrics", config.http.address, server.port())}});
  fmt::print("ztm worker: {} jobs at once from the {} queue; metrics on http://{}:{}\n",
             config.worker.concurrency, config.queue.backend, config.http.address, server.port());
  std::fflush(stdout);
  int signal_number = 0;
  signals.async_wait([&](const boost::system::error_code&, int sig) { signal_number = sig; });
  signals_ioc.run();
  log::info("worker stopping", {{"signal", signal_number}});
  stopping = true;
  background.stop();  // returns when the jobs in hand are finished
  server.stop();
  log::info("worker stopped", {});
  return 0;
}

}  // namespace ztm::cli
