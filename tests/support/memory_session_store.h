#pragma once
// An in-memory SessionStore for unit tests of the tiers above it (accounts, the API). The real
// backends (SQLite, Redis) pass tests/sessions/session_store_conformance.h; this fake keeps the
// same contract in the small (expiry and fixed-window counters on an injected Clock's monotonic
// time; tests pass a ManualClock and advance it) and can fail on purpose (fail_with).

#include <chrono>
#include <map>
#include <mutex>
#include <optional>

#include "core/clock.h"
#include "sessions/session_store.h"

namespace ztm::test {

class MemorySessionStore : public sessions::SessionStore {
 public:
  // REQUIRES: clock outlives this.
  explicit MemorySessionStore(const Clock& clock = Clock::system()) : clock_(clock) {}

  void fail_with(std::optional<Errc> code) {
    std::lock_guard lock(mu_);
    fail_ = code;
  }
  std::size_t live_sessions() {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& [k, s] : sessions_) n += s.expires > now();
    return n;
  }

  boost::asio::awaitable<Result<void>> create(std::string key, sessions::SessionData data,
                                              std::chrono::milliseconds ttl) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    auto it = sessions_.find(key);
    if (it != sessions_.end() && it->second.expires > now())
      co_return Error{Errc::conflict, "session exists"};
    sessions_[key] = Entry{std::move(data), now() + ttl};
    co_return Result<void>{};
  }
  boost::asio::awaitable<Result<sessions::SessionData>> touch(
      std::string key, std::chrono::milliseconds ttl) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    auto it = sessions_.find(key);
    if (it == sessions_.end() || it->second.expires <= now())
      co_return Error{Errc::not_found, "no session"};
    it->second.expires = now() + ttl;
    co_return it->second.data;
  }
  boost::asio::awaitable<Result<void>> revoke(std::string key) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    sessions_.erase(key);
    co_return Result<void>{};
  }
  boost::asio::awaitable<Result<void>> revoke_user(UserId user) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    std::erase_if(sessions_, [user](const auto& kv) { return kv.second.data.user_id == user; });
    co_return Result<void>{};
  }
  boost::asio::awaitable<Result<sessions::RateCount>> hit(
      std::string key, std::chrono::milliseconds window) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    // The sliding-window counter of session_store.h, as the real stores count it.
    auto& w = windows_[key];
    const auto t = now();
    if (w.ends + window <= t) {
      w = Window{0, 0, t + window};
    } else if (w.ends <= t) {
      w = Window{0, w.hits, w.ends + window};
    }
    ++w.hits;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(w.ends - t);
    co_return sessions::RateCount{w.hits + w.prev * left.count() / window.count(), left};
  }
  boost::asio::awaitable<Result<void>> ping() override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    co_return Result<void>{};
  }

 private:
  struct Entry {
    sessions::SessionData data;
    std::chrono::steady_clock::time_point expires;
  };
  struct Window {
    std::int64_t hits = 0;
    std::int64_t prev = 0;  // the previous window's hits
    std::chrono::steady_clock::time_point ends;
  };
  std::chrono::steady_clock::time_point now() const { return clock_.steady_now(); }

  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, Entry> sessions_;
  std::map<std::string, Window> windows_;
  std::optional<Errc> fail_;
};

}  // namespace ztm::test
