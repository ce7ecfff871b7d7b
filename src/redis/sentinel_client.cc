#include "redis/sentinel_client.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

namespace ztm::redis {

struct SentinelClient::Shared {
  SentinelOptions options;
  std::shared_ptr<Counters> counters = std::make_shared<Counters>();
  std::atomic<std::uint64_t> switches{0};
  mutable std::mutex mu;
  std::string master;              // "" = unknown
  bool suspect = false;            // a command failed on it: rediscover before the next one
  Clock::time_point next_check{};  // the next background discovery, at the earliest
  std::size_t first_sentinel = 0;  // the last one that answered
};

namespace {

using boost::asio::awaitable;
using Shared = SentinelClient::Shared;
constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable);

class SentinelLoop final : public LoopState {
 public:
  SentinelLoop(const boost::asio::any_io_executor& loop, std::shared_ptr<Shared> s)
      : LoopState(loop), shared(std::move(s)) {
    ConnectionOptions o = shared->options.connection;
    o.address.clear();  // until the first discovery
    master = std::make_shared<Connection>(strand, o, shared->counters);
    probe = std::make_shared<Connection>(strand, o, shared->counters);
    o.auth = shared->options.sentinel_auth;
    for (const auto& address : shared->options.sentinels) {
      o.address = address;
      sentinels.push_back(std::make_shared<Connection>(strand, o, shared->counters));
    }
  }
  void close() override {
    master->close("the client was closed");
    probe->close("the client was closed");
    for (auto& s : sentinels) s->close("the client was closed");
  }

  const std::shared_ptr<Shared> shared;
  std::shared_ptr<Connection> master;
  // Checks a candidate other than the master in use, so that a stale sentinel's answer does not
  // cut the master's connection (and the commands on it).
  std::shared_ptr<Connection> probe;
  std::vector<std::shared_ptr<Connection>> sentinels;
  bool discovering = false;
  std::vector<boost::asio::steady_timer*> waiters;  // for the discovery in progress
  std::string last_error;
};

// Takes `args` by reference and names the awaitable: no class-type temporary inside a co_await
// (GCC 12 destroys those twice, see storage/store.h).
awaitable<Result<Reply>> send(Connection& connection, std::vector<std::string>& args) {
  auto call = connection.command(std::move(args));
  co_return co_await std::move(call);
}

// Asks sentinel `i` where the master is and checks the answer with ROLE; the address or why not.
awaitable<Result<std::string>> ask(SentinelLoop& loop, std::size_t i) {
  Shared& s = *loop.shared;
  const std::string& sentinel = s.options.sentinels[i];
  std::vector<std::string> query{"SENTINEL", "get-master-addr-by-name", s.options.master_name};
  auto where = co_await send(*loop.sentinels[i], query);
  if (!where.ok()) co_return std::move(where).error();
  if (!where->is_array() || where->elements.size() != 2)
    co_return Error{Errc::unavailable,
                    fmt::format("redis sentinel {}: no master '{}': {}", sentinel,
                                s.options.master_name, describe(*where))};
  const std::string candidate = where->elements[0].str + ":" + where->elements[1].str;
  Connection& check = candidate == loop.master->address() ? *loop.master : *loop.probe;
  check.retarget(candidate);
  std::vector<std::string> role_query{"ROLE"};
  auto role = co_await send(check, role_query);
  if (!role.ok()) co_return std::move(role).error();
  if (!role->is_array() || role->elements.empty() || role->elements[0].str != "master")
    co_return Error{Errc::unavailable,
                    fmt::format("redis {}: named master by sentinel {} but its ROLE is {}",
                                candidate, sentinel, describe(*role))};
  co_return candidate;
}

// One discovery on this loop; callers arriving meanwhile wait for it (bounded by the timeout).
awaitable<void> discover(std::shared_ptr<SentinelLoop> loop) {
  Shared& s = *loop->shared;
  if (loop->discovering) {
    boost::asio::steady_timer wait(loop->strand, 2 * s.options.connection.timeout);
    loop->waiters.push_back(&wait);
    co_await wait.async_wait(kTuple);
    std::erase(loop->waiters, &wait);
    co_return;
  }
  loop->discovering = true;
  std::size_t first = 0;
  {
    std::lock_guard lock(s.mu);
    first = s.first_sentinel;
  }
  const std::size_t n = s.options.sentinels.size();
  std::string errors;
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (first + k) % n;
    auto found = co_await ask(*loop, i);
    if (!found.ok()) {
      errors += (errors.empty() ? "" : "; ") + found.error().message;
      continue;
    }
    std::lock_guard lock(s.mu);
    if (s.master != *found) {
      spdlog::info("redis sentinel: master '{}' is {} (was {})", s.options.master_name, *found,
                   s.master.empty() ? "unknown" : s.master);
      if (!s.master.empty()) s.switches.fetch_add(1, std::memory_order_relaxed);
      s.master = *found;
    }
    s.suspect = false;
    s.first_sentinel = i;
    s.next_check = s.options.connection.clock->steady_now() + s.options.check_interval;
    errors.clear();
    break;
  }
  loop->last_error = errors;
  loop->discovering = false;
  for (auto* w : loop->waiters) w->cancel();
}

// The master to send to on this loop: known and not suspect, else after a discovery.
awaitable<Result<std::string>> master_for(std::shared_ptr<SentinelLoop> loop) {
  Shared& s = *loop->shared;
  bool need = false, background = false;
  std::string master;
  {
    std::lock_guard lock(s.mu);
    need = s.master.empty() || s.suspect;
    const auto now = s.options.connection.clock->steady_now();
    if (!need && now >= s.next_check) {
      background = true;
      s.next_check = now + s.options.check_interval;
    }
    master = s.master;
  }
  if (background) boost::asio::co_spawn(loop->strand, discover(loop), boost::asio::detached);
  if (!need) co_return master;
  auto discovery = discover(loop);
  co_await std::move(discovery);
  std::lock_guard lock(s.mu);
  if (s.master.empty() || s.suspect)
    co_return Error{
        Errc::unavailable,
        fmt::format("redis sentinel: no verified master '{}': {}", s.options.master_name,
                    loop->last_error.empty() ? "discovery in progress" : loop->last_error)};
  co_return s.master;
}

awaitable<Result<Reply>> run(std::shared_ptr<SentinelLoop> loop, std::vector<std::string> args) {
  auto find = master_for(loop);
  auto master = co_await std::move(find);
  if (!master.ok()) co_return std::move(master).error();
  loop->master->retarget(*master);
  auto reply = co_await send(*loop->master, args);
  const bool failed = !reply.ok() && reply.error().code == Errc::unavailable;
  const bool demoted = reply.ok() && reply->is_error() && reply->str.starts_with("READONLY");
  if (failed || demoted) {
    Shared& s = *loop->shared;
    std::lock_guard lock(s.mu);
    if (s.master == *master) s.suspect = true;
  }
  co_return reply;
}

}  // namespace

std::vector<std::string> split_addresses(const std::string& list) {
  std::vector<std::string> out;
  std::string item;
  for (char c : list + ",") {
    if (c == ',') {
      if (!item.empty()) out.push_back(item);
      item.clear();
    } else if (c != ' ') {
      item += c;
    }
  }
  return out;
}

SentinelClient::SentinelClient(SentinelOptions options) : shared_(std::make_shared<Shared>()) {
  if (options.sentinels.empty())
    throw std::invalid_argument("redis sentinel: no sentinel addresses");
  for (const auto& a : options.sentinels)
    if (auto p = parse_address(a); !p.ok()) throw std::invalid_argument(p.error().message);
  if (options.master_name.empty()) throw std::invalid_argument("redis sentinel: no master name");
  if (options.connection.timeout.count() < 1 || options.check_interval.count() < 1)
    throw std::invalid_argument("redis sentinel: timeout and check interval must be positive");
  shared_->options = std::move(options);
}

SentinelClient::~SentinelClient() {
  std::lock_guard lock(mu_);
  for (auto& weak : states_)
    if (auto state = weak.lock()) state->close();
}

awaitable<Result<Reply>> SentinelClient::command(std::vector<std::string> args) {
  const auto executor = co_await boost::asio::this_coro::executor;
  bool created = false;
  auto loop = std::static_pointer_cast<SentinelLoop>(loop_local(executor, shared_.get(), [&] {
    created = true;
    return std::make_shared<SentinelLoop>(executor, shared_);
  }));
  if (created) {
    std::lock_guard lock(mu_);
    std::erase_if(states_, [](const auto& w) { return w.expired(); });
    states_.push_back(loop);
  }
  auto call = on_strand<Result<Reply>>(loop->strand, [&] { return run(loop, std::move(args)); });
  co_return co_await std::move(call);
}

void SentinelClient::register_metrics(MetricsRegistry& registry, const std::string& name) const {
  register_counters(registry, name, shared_->counters);
  auto shared = shared_;
  registry.callback(
      "ztm_redis_master_switches_total", "Sentinel master changes followed", {{"client", name}},
      [shared] { return static_cast<double>(shared->switches.load(std::memory_order_relaxed)); },
      "counter");
}

std::string SentinelClient::master() const {
  std::lock_guard lock(shared_->mu);
  return shared_->master;
}

std::uint64_t SentinelClient::master_switches() const {
  return shared_->switches.load(std::memory_order_relaxed);
}

}  // namespace ztm::redis
