#include "redis/client.h"

#include <boost/asio/this_coro.hpp>
#include <stdexcept>

namespace ztm::redis {
namespace {

class NodeLoop final : public LoopState {
 public:
  NodeLoop(const boost::asio::any_io_executor& loop, const ConnectionOptions& options,
           std::shared_ptr<Counters> counters)
      : LoopState(loop), connection(std::make_shared<Connection>(strand, options, counters)) {}
  void close() override { connection->close("the client was closed"); }

  const std::shared_ptr<Connection> connection;
};

}  // namespace

boost::asio::awaitable<Result<Reply>> command_checked(CommandRunner& runner,
                                                      std::vector<std::string>& args,
                                                      const char* what) {
  auto call = runner.command(std::move(args));
  auto reply = co_await std::move(call);
  if (!reply.ok()) co_return std::move(reply).error();
  if (reply->is_error()) co_return error_from_reply(*reply, what);
  co_return reply;
}

void register_counters(MetricsRegistry& registry, const std::string& name,
                       std::shared_ptr<const Counters> counters) {
  const Labels labels{{"client", name}};
  auto add = [&](const char* metric, const char* help, const std::atomic<std::uint64_t>& value) {
    registry.callback(
        metric, help, labels,
        [counters, &value] { return static_cast<double>(value.load(std::memory_order_relaxed)); },
        "counter");
  };
  add("ztm_redis_commands_total", "Redis commands sent", counters->commands);
  add("ztm_redis_failures_total", "Redis commands failed without a reply", counters->failures);
  add("ztm_redis_timeouts_total", "Redis commands that timed out", counters->timeouts);
  add("ztm_redis_connects_total", "Redis connections established", counters->connects);
  add("ztm_redis_auth_failures_total", "Redis AUTH refused (wrong user or password)",
      counters->auth_failures);
}

Client::Client(ConnectionOptions options)
    : options_(std::move(options)), counters_(std::make_shared<Counters>()) {
  if (auto a = parse_address(options_.address); !a.ok())
    throw std::invalid_argument(a.error().message);
  if (options_.timeout.count() < 1 || options_.max_pending < 1)
    throw std::invalid_argument("redis: timeout and max_pending must be positive");
}

Client::~Client() {
  std::lock_guard lock(mu_);
  for (auto& weak : states_)
    if (auto state = weak.lock()) state->close();
}

boost::asio::awaitable<Result<Reply>> Client::command(std::vector<std::string> args) {
  const auto loop = co_await boost::asio::this_coro::executor;
  bool created = false;
  auto state = std::static_pointer_cast<NodeLoop>(loop_local(loop, counters_.get(), [&] {
    created = true;
    return std::make_shared<NodeLoop>(loop, options_, counters_);
  }));
  if (created) {
    std::lock_guard lock(mu_);
    std::erase_if(states_, [](const auto& w) { return w.expired(); });
    states_.push_back(state);
  }
  // Named, not a temporary inside co_await (GCC 12, see storage/store.h).
  auto call = on_strand<Result<Reply>>(state->strand,
                                       [&] { return state->connection->command(std::move(args)); });
  co_return co_await std::move(call);
}

void Client::register_metrics(MetricsRegistry& registry, const std::string& name) const {
  register_counters(registry, name, counters_);
}

}  // namespace ztm::redis
