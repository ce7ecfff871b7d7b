#pragma once
// The contract of src/sessions/session_store.h as a typed test suite that every SessionStore
// backend passes. A backend's test instantiates it with a factory whose make() returns a fresh,
// empty store on every call:
//
//   struct SqliteFactory { static std::unique_ptr<ztm::SessionStore> make(); };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, SessionStoreConformance,
//                                  ::testing::Types<SqliteFactory>);
//
// Calls run on one io_context driven by two threads (a server calls its store from several
// event-loop threads); each call is awaited from the test thread with a bound, so a hung call
// fails the test instead of hanging it. Expiry is real time: ttls of 1 s (the minimum).

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sessions/session_store.h"
#include "tests/sessions/event_loops.h"
#include "tests/support/eventually.h"

namespace ztm::test {

using namespace std::chrono_literals;

template <class Factory>
class SessionStoreConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = Factory::make();
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    loops_.reset();  // no call in flight before the store goes
    store_.reset();
  }

  Result<void> create(const std::string& key, SessionData data, std::chrono::milliseconds ttl) {
    return loops_->run(store_->create(key, std::move(data), ttl));
  }
  Result<SessionData> touch(const std::string& key, std::chrono::milliseconds ttl = 60s) {
    return loops_->run(store_->touch(key, ttl));
  }
  Result<void> revoke(const std::string& key) { return loops_->run(store_->revoke(key)); }
  Result<void> revoke_user(UserId user) { return loops_->run(store_->revoke_user(user)); }
  Result<RateCount> hit(const std::string& key, std::chrono::milliseconds window) {
    return loops_->run(store_->hit(key, window));
  }

  std::unique_ptr<EventLoops> loops_ = std::make_unique<EventLoops>(2);
  std::unique_ptr<SessionStore> store_;
};

TYPED_TEST_SUITE_P(SessionStoreConformance);

TYPED_TEST_P(SessionStoreConformance, CreateThenTouchReturnsTheSession) {
  const SessionData admin{kMaxSafeInteger, "admin"};
  ASSERT_EQ(outcome(this->create("k1", admin, 60s)), "ok");
  ASSERT_EQ(outcome(this->create("k2", SessionData{7, "user"}, 60s)), "ok");
  const auto got = this->touch("k1");
  ASSERT_EQ(outcome(got), "ok");
  EXPECT_EQ(got.value(), admin);
  EXPECT_EQ(this->touch("k2")->user_id, 7);
  EXPECT_EQ(outcome(this->loops_->run(this->store_->ping())), "ok");
}

TYPED_TEST_P(SessionStoreConformance, UnknownKeyIsNotFound) {
  EXPECT_EQ(errc(this->touch("nope")), "not_found");
}

TYPED_TEST_P(SessionStoreConformance, CreatingAnExistingKeyIsAConflict) {
  ASSERT_EQ(outcome(this->create("k", SessionData{1, "user"}, 60s)), "ok");
  EXPECT_EQ(errc(this->create("k", SessionData{2, "admin"}, 60s)), "conflict");
  EXPECT_EQ(this->touch("k")->user_id, 1);  // unchanged
}

TYPED_TEST_P(SessionStoreConformance, RevokeRemovesTheSessionAndIsIdempotent) {
  ASSERT_EQ(outcome(this->create("k", SessionData{1, "user"}, 60s)), "ok");
  ASSERT_EQ(outcome(this->revoke("k")), "ok");
  EXPECT_EQ(errc(this->touch("k")), "not_found");
  EXPECT_EQ(outcome(this->revoke("k")), "ok");
  EXPECT_EQ(outcome(this->revoke("never")), "ok");
  // The key can be used again after a revoke.
  EXPECT_EQ(outcome(this->create("k", SessionData{2, "user"}, 60s)), "ok");
}

TYPED_TEST_P(SessionStoreConformance, RevokeUserRemovesEveryOneOfTheUsersSessionsOnly) {
  for (const char* k : {"a1", "a2", "a3"})
    ASSERT_EQ(outcome(this->create(k, SessionData{10, "user"}, 60s)), "ok");
  ASSERT_EQ(outcome(this->create("b1", SessionData{11, "user"}, 60s)), "ok");
  ASSERT_EQ(outcome(this->revoke("a2")), "ok");
  ASSERT_EQ(outcome(this->revoke_user(10)), "ok");
  for (const char* k : {"a1", "a2", "a3"}) EXPECT_EQ(errc(this->touch(k)), "not_found") << k;
  EXPECT_EQ(outcome(this->touch("b1")), "ok");
  EXPECT_EQ(outcome(this->revoke_user(10)), "ok");   // none left
  EXPECT_EQ(outcome(this->revoke_user(999)), "ok");  // never had any
  // A new session of the user after the revoke works (and is revoked by the next one).
  ASSERT_EQ(outcome(this->create("a4", SessionData{10, "user"}, 60s)), "ok");
  ASSERT_EQ(outcome(this->revoke_user(10)), "ok");
  EXPECT_EQ(errc(this->touch("a4")), "not_found");
}

// A session not touched expires after its ttl; one touched more often than its ttl lives on.
// Touching is the only way to observe a session, and it slides the expiry, so the untouched one is
// looked at once, after the pacing loop of the touched one has outlived its ttl.
TYPED_TEST_P(SessionStoreConformance, SessionsExpireUnlessTouched) {
  ASSERT_EQ(outcome(this->create("kept", SessionData{1, "user"}, 1s)), "ok");
  ASSERT_EQ(outcome(this->create("left", SessionData{1, "user"}, 1s)), "ok");
  const auto until = std::chrono::steady_clock::now() + 1600ms;
  while (std::chrono::steady_clock::now() < until) {  // bounded pacing loop, not a wait
    ASSERT_EQ(outcome(this->touch("kept", 1s)), "ok");
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(errc(this->touch("left", 1s)), "not_found");
  EXPECT_EQ(outcome(this->touch("kept", 1s)), "ok");
  // An expired key is free again.
  EXPECT_EQ(outcome(this->create("left", SessionData{2, "user"}, 60s)), "ok");
  EXPECT_EQ(this->touch("left")->user_id, 2);
}

TYPED_TEST_P(SessionStoreConformance, HitsCountInAFixedWindowThenStartAgain) {
  const auto first = this->hit("login:ada", 1s);
  ASSERT_EQ(outcome(first), "ok");
  EXPECT_EQ(first->hits, 1);
  EXPECT_GT(first->reset_in, 0ms);
  EXPECT_LE(first->reset_in, 1000ms);
  EXPECT_EQ(this->hit("login:ada", 1s)->hits, 2);
  const auto third = this->hit("login:ada", 1s);
  EXPECT_EQ(third->hits, 3);
  EXPECT_LE(third->reset_in, first->reset_in);     // the window does not slide
  EXPECT_EQ(this->hit("login:bob", 1s)->hits, 1);  // counters are per key
  // After the window the count starts again at 1 (each poll is a hit of its own).
  EXPECT_TRUE(eventually([&] { return this->hit("login:ada", 1s)->hits == 1; }, 3s, 50ms));
}

TYPED_TEST_P(SessionStoreConformance, BadKeysAndDurationsAreInvalidArguments) {
  const std::string longest(kMaxSessionKeyBytes, 'k');
  EXPECT_EQ(outcome(this->create(longest, SessionData{1, "user"}, 60s)), "ok");
  for (const std::string& bad :
       {std::string(), std::string(kMaxSessionKeyBytes + 1, 'k'), std::string("a\nb"),
        std::string("caf\xc3\xa9"), std::string("a\0b", 3)}) {
    EXPECT_EQ(errc(this->create(bad, SessionData{1, "user"}, 60s)), "invalid_argument");
    EXPECT_EQ(errc(this->touch(bad)), "invalid_argument");
    EXPECT_EQ(errc(this->revoke(bad)), "invalid_argument");
    EXPECT_EQ(errc(this->hit(bad, 60s)), "invalid_argument");
  }
  EXPECT_EQ(errc(this->create("k", SessionData{1, "user"}, 999ms)), "invalid_argument");
  EXPECT_EQ(errc(this->hit("k", 10ms)), "invalid_argument");
}

// Many coroutines on the two loop threads at once: each creates, touches and counts; of several
// creates of one key exactly one wins.
TYPED_TEST_P(SessionStoreConformance, ConcurrentCallsKeepTheContract) {
  constexpr int kCalls = 200;
  std::atomic<int> created{0}, found{0}, conflicts{0}, other{0};
  std::vector<std::int64_t> counts(kCalls);
  std::promise<void> all_done;
  std::atomic<int> left{kCalls};
  SessionStore& store = *this->store_;
  for (int i = 0; i < kCalls; ++i) {
    boost::asio::co_spawn(
        this->loops_->io(),
        [&, i]() -> boost::asio::awaitable<void> {
          const std::string key = "c" + std::to_string(i);
          auto c = store.create(key, SessionData{i, "user"}, 60s);
          auto made = co_await std::move(c);
          created += made.ok();
          auto t = store.touch(key, 60s);
          auto got = co_await std::move(t);
          found += got.ok() && got->user_id == i;
          auto h = store.hit("shared", 60s);
          auto counted = co_await std::move(h);
          counts[static_cast<std::size_t>(i)] = counted.ok() ? counted->hits : -1;
          auto d = store.create("duplicate", SessionData{i, "user"}, 60s);
          auto dup = co_await std::move(d);
          if (!dup.ok()) (dup.error().code == Errc::conflict ? conflicts : other)++;
          if (--left == 0) all_done.set_value();
        },
        [](std::exception_ptr) {});
  }
  ASSERT_EQ(all_done.get_future().wait_for(30s), std::future_status::ready);
  EXPECT_EQ(created, kCalls);
  EXPECT_EQ(found, kCalls);
  EXPECT_EQ(conflicts, kCalls - 1);
  EXPECT_EQ(other, 0);
  // Every hit got its own count: 1..kCalls, each once.
  EXPECT_EQ(std::set<std::int64_t>(counts.begin(), counts.end()).size(), std::size_t{kCalls});
  EXPECT_EQ(*std::max_element(counts.begin(), counts.end()), kCalls);
  EXPECT_EQ(this->hit("shared", 60s)->hits, kCalls + 1);
}

REGISTER_TYPED_TEST_SUITE_P(SessionStoreConformance, CreateThenTouchReturnsTheSession,
                            UnknownKeyIsNotFound, CreatingAnExistingKeyIsAConflict,
                            RevokeRemovesTheSessionAndIsIdempotent,
                            RevokeUserRemovesEveryOneOfTheUsersSessionsOnly,
                            SessionsExpireUnlessTouched, HitsCountInAFixedWindowThenStartAgain,
                            BadKeysAndDurationsAreInvalidArguments, ConcurrentCallsKeepTheContract);

}  // namespace ztm::test
