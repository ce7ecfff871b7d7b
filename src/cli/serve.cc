// ztm serve and ztm worker: build the process's node (node/node.h, the composition root), run it
// until SIGTERM/SIGINT, then shut it down gracefully (Node::shutdown) and exit 0.
#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <functional>

#include "cli/commands.h"
#include "core/log.h"
#include "node/node.h"

namespace ztm::cli {
namespace {

// Starts the node, says where it is (`announce`), waits for SIGTERM or SIGINT, shuts down.
// The signal set exists before the node starts, so a signal sent as soon as the node says it is
// up is never lost (nor kills the process by default action).
int run(node::Node& node, std::string_view command, const std::function<void()>& announce) {
  boost::asio::io_context signals_ioc(1);
  boost::asio::signal_set signals(signals_ioc, SIGTERM, SIGINT);
  node.start();
  announce();
  std::fflush(stdout);
  int signal_number = 0;
  signals.async_wait([&](const boost::system::error_code&, int sig) { signal_number = sig; });
  signals_ioc.run();

  const auto started = std::chrono::steady_clock::now();
  log::info("shutting down", {{"command", std::string(command)},
                              {"signal", signal_number},
                              {"drain_delay_ms", node.config().http.drain_delay_ms}});
  const int abandoned = node.shutdown();
  log::info("stopped", {{"abandoned_connections", abandoned},
                        {"shutdown_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - started)
                                            .count()}});
  return 0;
}

}  // namespace

int serve(const Config& config) {
  auto node = node::Node::web_server(config);
  return run(*node, "serve", [&] {
    const std::string url = fmt::format("http://{}:{}", config.http.address, node->port());
    log::info("listening", {{"url", url},
                            {"threads", node->threads()},
                            {"node_id", config.node_id},
                            {"storage", config.storage.backend},
                            {"cache", config.cache.enabled ? config.cache.policy : "off"},
                            {"sessions", config.sessions.backend}});
    fmt::print("ztm serve: listening on {}\n", url);
  });
}

int worker(const Config& config) {
  auto node = node::Node::photo_worker(config);
  return run(*node, "worker", [&] {
    const std::string url = fmt::format("http://{}:{}", config.http.address, node->port());
    log::info("worker started", {{"queue", config.queue.backend},
                                 {"concurrency", config.worker.concurrency},
                                 {"metrics", url + "/metrics"}});
    fmt::print("ztm worker: {} jobs at once from the {} queue; metrics on {}\n",
               config.worker.concurrency, config.queue.backend, url);
  });
}

}  // namespace ztm::cli
