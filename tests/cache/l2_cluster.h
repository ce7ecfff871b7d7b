#pragma once
// A small deployment for cache-tier tests: `nodes` real redis-servers (maxmemory + allkeys-lru),
// one in-memory store, and several "web servers" (each a UserService with its own L1 and its
// own RedisCacheTier client of the shared nodes, on its own event loop).

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <csignal>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "app/users.h"
#include "cache/local/local_cache.h"
#include "cache/redis/redis_cache_tier.h"
#include "core/manual_clock.h"
#include "core/run_sync.h"
#include "tests/sessions/event_loops.h"
#include "tests/support/eventually.h"
#include "tests/support/memory_store.h"
#include "tests/support/redis_instance.h"

namespace ztm::test {

// A store whose reads take a while AFTER reading the row (0..delay_ms, varying per call): the
// window in which a write can overtake a read and provoke a stale fill.
class SlowStore : public MemoryStore {
 public:
  using storage::Store::create_user;
  using storage::Store::get_user;
  using storage::Store::list_users;
  std::atomic<int> delay_ms{0};
  std::atomic<bool> vary{false};  // 0..delay_ms instead of exactly delay_ms

  boost::asio::awaitable<Result<storage::StoredUser>> get_user(UserId id,
                                                               storage::Consistency c) override {
    auto r = co_await MemoryStore::get_user(id, std::move(c));
    const int max = delay_ms.load();
    const auto n = calls_.fetch_add(1);
    const int d = vary ? static_cast<int>((n * 7919 + static_cast<std::uint64_t>(id)) %
                                          static_cast<std::uint64_t>(max + 1))
                       : max;
    if (d > 0) {
      boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
      timer.expires_after(std::chrono::milliseconds(d));
      auto wait = timer.async_wait(boost::asio::use_awaitable);
      co_await std::move(wait);
    }
    co_return r;
  }

 private:
  std::atomic<std::uint64_t> calls_{0};
};

// Runs `aw` on `loops` and waits for its result; a call that hangs past `bound` throws (a failed
// test, not a hung one).
template <class T>
T run_on(EventLoops& loops, boost::asio::awaitable<T> aw,
         std::chrono::seconds bound = std::chrono::seconds(20)) {
  auto done = std::make_shared<std::promise<T>>();
  auto future = done->get_future();
  auto deliver = [](boost::asio::awaitable<T> a,
                    std::shared_ptr<std::promise<T>> p) -> boost::asio::awaitable<void> {
    p->set_value(co_await std::move(a));
  };
  boost::asio::co_spawn(loops.io(), deliver(std::move(aw), done), [](std::exception_ptr) {});
  if (future.wait_for(bound) != std::future_status::ready)
    throw std::runtime_error("the call hung");
  return future.get();
}

// hiredis writes with write(2): a killed node would raise SIGPIPE and end the test binary (ztm
// ignores it too: cli/main.cc).
inline void ignore_sigpipe() {
  std::signal(SIGPIPE, SIG_IGN);
}

inline storage::User test_user(UserId id) {
  return storage::User{
      id, "First" + std::to_string(id), "Last", {"1 Main St", "Town", "NY", 10001}, {"555-0100"}};
}

struct WebServerOptions {
  bool l1 = true;
  std::chrono::milliseconds l1_ttl{60'000};
};

class WebServer {
 public:
  WebServer(storage::Database& store, IdGenerator& ids, cache::RedisCacheTierOptions l2,
            WebServerOptions o)
      : tier(std::move(l2)),
        l1(o.l1 ? std::make_unique<cache::LocalCache>(cache::LocalCacheOptions{.ttl = o.l1_ttl})
                : nullptr),
        users(store, store, l1.get(), &tier, ids) {}
  cache::RedisCacheTier tier;
  std::unique_ptr<cache::LocalCache> l1;
  app::UserService users;
};

inline cache::RedisCacheTierOptions tier_options(
    const std::vector<std::unique_ptr<RedisInstance>>& nodes) {
  cache::RedisCacheTierOptions o;
  for (const auto& n : nodes) o.nodes.push_back(n->address());
  o.timeout = std::chrono::milliseconds(100);
  o.cooldown = std::chrono::milliseconds(200);
  o.lease_wait = std::chrono::milliseconds(1000);
  return o;
}

class L2Cluster {
 public:
  L2Cluster(int nodes, int users) {
    ignore_sigpipe();
    for (int i = 0; i < nodes; ++i) {
      redis.push_back(std::make_unique<RedisInstance>());
      redis.back()->command({"CONFIG", "SET", "maxmemory", "64mb"});
      redis.back()->command({"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"});
    }
    for (UserId id = 1; id <= users; ++id)
      if (!run_sync(store.create_user(test_user(id)))) throw std::runtime_error("create_user");
  }
  ~L2Cluster() { loops.clear(); }  // stop the loops before the tiers they run

  WebServer& add_server(WebServerOptions o) { return add_server(tier_options(redis), o); }
  WebServer& add_server(cache::RedisCacheTierOptions l2, WebServerOptions o) {
    servers.push_back(std::make_unique<WebServer>(store, ids, std::move(l2), o));
    loops.push_back(std::make_unique<EventLoops>(1));
    return *servers.back();
  }

  // Starts `count` coroutines body(server, k) on server's loop; returns at once. `done` counts
  // the finished ones.
  void spawn(int server, int count,
             std::function<boost::asio::awaitable<void>(app::UserService&, int)> body) {
    for (int k = 0; k < count; ++k)
      boost::asio::co_spawn(loops[static_cast<std::size_t>(server)]->io(),
                            run_one(servers[static_cast<std::size_t>(server)]->users, k, body),
                            boost::asio::detached);
  }
  bool wait_done(int expected, std::chrono::milliseconds bound = std::chrono::seconds(60)) {
    return eventually([&] { return done.load() >= expected; }, bound, std::chrono::milliseconds(2));
  }

  std::vector<std::unique_ptr<RedisInstance>> redis;
  SlowStore store;
  ManualClock id_clock;  // ids only: the caches run on real time, as the Redis nodes do
  IdGenerator ids{1, id_clock};
  std::vector<std::unique_ptr<WebServer>> servers;
  std::atomic<int> done{0};
  std::vector<std::unique_ptr<EventLoops>> loops;  // last: destroyed (joined) first

 private:
  boost::asio::awaitable<void> run_one(
      app::UserService& users, int k,
      std::function<boost::asio::awaitable<void>(app::UserService&, int)> body) {
    auto work = body(users, k);
    co_await std::move(work);
    done.fetch_add(1);
  }
};

}  // namespace ztm::test
