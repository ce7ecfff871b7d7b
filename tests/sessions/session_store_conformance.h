#pragma once
// The contract of src/sessions/session_store.h as a typed test suite that every SessionStore
// backend passes. A backend's test instantiates it with a factory whose make(clock) returns a
// fresh, empty store on every call:
//
//   struct SqliteFactory {
//     // true: the store reads `clock` (the suite's ManualClock). false: the backend keeps its
//     // engine's own clock (Redis: PX, PEXPIRE) and ignores it.
//     static constexpr bool kUsesClock = true;
//     static std::unique_ptr<ztm::sessions::SessionStore> make(const ztm::Clock& clock);
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, SessionStoreConformance,
//                                  ::testing::Types<SqliteFactory>);
//
// Calls run on one io_context driven by two threads (a server calls its store from several
// event-loop threads); each call is awaited from the test thread with a bound, so a hung call
// fails the test instead of hanging it. Expiry and rate windows use ttls of 1 s (the minimum):
// on the ManualClock the suite advances it (to a millisecond before an end, then onto it); on an
// engine's own clock real time passes, observed by polling with a bound, never by sleeping.

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

#include "core/manual_clock.h"
#include "sessions/session_store.h"
#include "tests/sessions/event_loops.h"
#include "tests/support/eventually.h"

namespace ztm::test {

using namespace std::chrono_literals;

template <class Factory>
class SessionStoreConformance : public ::testing::Test {
 protected:
  // Whether the store's time is clock_ (moved only by the test) rather than real time.
  static constexpr bool kManualTime = Factory::kUsesClock;

  void SetUp() override {
    store_ = Factory::make(clock_);
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    loops_.reset();  // no call in flight before the store goes
    store_.reset();
  }

  Result<void> create(const std::string& key, sessions::SessionData data,
                      std::chrono::milliseconds ttl) {
    return loops_->run(store_->create(key, std::move(data), ttl));
  }
  Result<sessions::SessionData> touch(const std::string& key, std::chrono::milliseconds ttl = 60s) {
    return loops_->run(store_->touch(key, ttl));
  }
  Result<void> revoke(const std::string& key) { return loops_->run(store_->revoke(key)); }
  Result<void> revoke_user(UserId user) { return loops_->run(store_->revoke_user(user)); }
  Result<sessions::RateCount> hit(const std::string& key, std::chrono::milliseconds window) {
    return loops_->run(store_->hit(key, window));
  }

  // Lets `d` (>= 1 s) pass on the store's clock while touching `kept` (ttl 1 s) at least every
  // 200 ms of it, so that it lives on; fails if a touch does not find it.
  //  - On clock_: advances it 200 ms at a time.
  //  - On the engine's clock (Redis): real time passes, and its end is seen on that clock itself:
  //    a rate window of `d` opened now has passed once a hit's reset_in jumps up (a new window
  //    began). Polled with a bound.
  ::testing::AssertionResult let_pass_touching(const std::string& kept,
                                               std::chrono::milliseconds d) {
    if constexpr (kManualTime) {
      for (auto passed = 0ms; passed < d; passed += 200ms) {
        clock_.advance(200ms);
        if (auto t = touch(kept, 1s); !t.ok())
          return ::testing::AssertionFailure() << "touch " << kept << ": " << outcome(t);
      }
    } else {
      const std::string window = "passing:" + kept;
      auto opened = hit(window, d);
      if (!opened.ok() || opened->hits != 1)
        return ::testing::AssertionFailure() << "opening the window: " << outcome(opened);
      std::string failed;
      auto left = opened->reset_in;
      const bool passed = eventually(
          [&] {
            if (auto t = touch(kept, 1s); !t.ok()) failed = outcome(t);
            auto h = hit(window, d);
            const bool rolled = h.ok() && h->reset_in > left;
            if (h.ok()) left = h->reset_in;
            return !failed.empty() || rolled;
          },
          d + 5s, 50ms);
      if (!failed.empty())
        return ::testing::AssertionFailure() << "touch " << kept << ": " << failed;
      if (!passed) return ::testing::AssertionFailure() << "the window never ended";
    }
    return ::testing::AssertionSuccess();
  }

  ManualClock clock_;  // outlives the store
  std::unique_ptr<EventLoops> loops_ = std::make_unique<EventLoops>(2);
  std::unique_ptr<sessions::SessionStore> store_;
};

TYPED_TEST_SUITE_P(SessionStoreConformance);

TYPED_TEST_P(SessionStoreConformance, CreateThenTouchReturnsTheSession) {
  const sessions::SessionData admin{kMaxSafeInteger, "admin"};
  ASSERT_EQ(outcome(this->create("k1", admin, 60s)), "ok");
  ASSERT_EQ(outcome(this->create("k2", sessions::SessionData{7, "user"}, 60s)), "ok");
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
  ASSERT_EQ(outcome(this->create("k", sessions::SessionData{1, "user"}, 60s)), "ok");
  EXPECT_EQ(errc(this->create("k", sessions::SessionData{2, "admin"}, 60s)), "conflict");
  EXPECT_EQ(this->touch("k")->user_id, 1);  // unchanged
}

TYPED_TEST_P(SessionStoreConformance, RevokeRemovesTheSessionAndIsIdempotent) {
  ASSERT_EQ(outcome(this->create("k", sessions::SessionData{1, "user"}, 60s)), "ok");
  ASSERT_EQ(outcome(this->revoke("k")), "ok");
  EXPECT_EQ(errc(this->touch("k")), "not_found");
  EXPECT_EQ(outcome(this->revoke("k")), "ok");
  EXPECT_EQ(outcome(this->revoke("never")), "ok");
  // The key can be used again after a revoke.
  EXPECT_EQ(outcome(this->create("k", sessions::SessionData{2, "user"}, 60s)), "ok");
}

TYPED_TEST_P(SessionStoreConformance, RevokeUserRemovesEveryOneOfTheUsersSessionsOnly) {
  for (const char* k : {"a1", "a2", "a3"})
    ASSERT_EQ(outcome(this->create(k, sessions::SessionData{10, "user"}, 60s)), "ok");
  ASSERT_EQ(outcome(this->create("b1", sessions::SessionData{11, "user"}, 60s)), "ok");
  ASSERT_EQ(outcome(this->revoke("a2")), "ok");
  ASSERT_EQ(outcome(this->revoke_user(10)), "ok");
  for (const char* k : {"a1", "a2", "a3"}) EXPECT_EQ(errc(this->touch(k)), "not_found") << k;
  EXPECT_EQ(outcome(this->touch("b1")), "ok");
  EXPECT_EQ(outcome(this->revoke_user(10)), "ok");   // none left
  EXPECT_EQ(outcome(this->revoke_user(999)), "ok");  // never had any
  // A new session of the user after the revoke works (and is revoked by the next one).
  ASSERT_EQ(outcome(this->create("a4", sessions::SessionData{10, "user"}, 60s)), "ok");
  ASSERT_EQ(outcome(this->revoke_user(10)), "ok");
  EXPECT_EQ(errc(this->touch("a4")), "not_found");
}

// A session not touched expires after its ttl; one touched more often than its ttl lives on.
// Touching is the only way to observe a session, and it slides the expiry, so the untouched one is
// looked at once, after the touched one has outlived its ttl.
TYPED_TEST_P(SessionStoreConformance, SessionsExpireUnlessTouched) {
  ASSERT_EQ(outcome(this->create("kept", sessions::SessionData{1, "user"}, 1s)), "ok");
  ASSERT_EQ(outcome(this->create("left", sessions::SessionData{1, "user"}, 1s)), "ok");
  if constexpr (TestFixture::kManualTime) {  // the exact edge, on the manual clock
    ASSERT_EQ(outcome(this->create("edge", sessions::SessionData{1, "user"}, 1s)), "ok");
    this->clock_.advance(999ms);
    EXPECT_EQ(outcome(this->touch("edge", 1s)), "ok") << "a millisecond before its ttl";
    ASSERT_EQ(outcome(this->touch("kept", 1s)), "ok");
    this->clock_.advance(1ms);
    EXPECT_EQ(errc(this->touch("left", 1s)), "not_found") << "at its ttl";
  }
  ASSERT_TRUE(this->let_pass_touching("kept", 1000ms));
  EXPECT_EQ(errc(this->touch("left", 1s)), "not_found");
  EXPECT_EQ(outcome(this->touch("kept", 1s)), "ok");
  // An expired key is free again.
  EXPECT_EQ(outcome(this->create("left", sessions::SessionData{2, "user"}, 60s)), "ok");
  EXPECT_EQ(this->touch("left")->user_id, 2);
}

// The sliding window (session_store.h): hits accumulate in a window; just after it ends, its
// hits still count, weighted by how much of it the last window covers; so a burst on each side
// of a boundary counts as one window (a fixed window would answer 1 there, allowing twice the
// limit). After two quiet windows the count starts again at 1.
TYPED_TEST_P(SessionStoreConformance, HitsCountOverASlidingWindow) {
  const auto first = this->hit("login:ada", 1s);
  ASSERT_EQ(outcome(first), "ok");
  EXPECT_EQ(first->hits, 1);
  EXPECT_GT(first->reset_in, 0ms);
  EXPECT_LE(first->reset_in, 1000ms);
  EXPECT_EQ(this->hit("login:ada", 1s)->hits, 2);
  const auto third = this->hit("login:ada", 1s);
  EXPECT_EQ(third->hits, 3);
  EXPECT_LE(third->reset_in, first->reset_in);     // the fixed window under it does not slide
  EXPECT_EQ(this->hit("login:bob", 1s)->hits, 1);  // counters are per key
  if constexpr (TestFixture::kManualTime) {
    this->clock_.advance(999ms);
    EXPECT_EQ(this->hit("login:ada", 1s)->hits, 4) << "a millisecond before the window ends";
    this->clock_.advance(1ms);
    EXPECT_EQ(this->hit("login:ada", 1s)->hits, 1 + 4) << "the next window: all of the last";
    this->clock_.advance(500ms);
    EXPECT_EQ(this->hit("login:ada", 1s)->hits, 2 + 4 / 2) << "half of it";
    this->clock_.advance(499ms);
    EXPECT_EQ(this->hit("login:ada", 1s)->hits, 3 + 0) << "4 x 1/1000, rounded down";
    this->clock_.advance(1ms);
    EXPECT_EQ(this->hit("login:ada", 1s)->hits, 1 + 3) << "the window after: all of its 3";
    this->clock_.advance(2000ms);  // the window after that one passes quietly
    EXPECT_EQ(this->hit("login:ada", 1s)->hits, 1);
  } else {
    // Real time on the engine's clock: 10 hits, then one as soon after their window as we can
    // tell it ended. A probe key opened just after them ends its windows just after theirs; its
    // rollovers (a hit's reset_in jumping up), polled, say when.
    for (int i = 0; i < 10; ++i) ASSERT_EQ(outcome(this->hit("login:eve", 1s)), "ok");
    auto probe = this->hit("probe:eve", 1s);
    ASSERT_EQ(outcome(probe), "ok");
    auto left = probe->reset_in;
    const auto rolled_over = [&] {
      return eventually(
          [&] {
            auto h = this->hit("probe:eve", 1s);
            const bool rolled = h.ok() && h->reset_in > left;
            if (h.ok()) left = h->reset_in;
            return rolled;
          },
          3s, 10ms);
    };
    ASSERT_TRUE(rolled_over());
    const auto after = this->hit("login:eve", 1s);
    ASSERT_EQ(outcome(after), "ok");
    // The previous window's 10 weigh (its end + 1 s - now) / 1 s: nearly all of them, so at
    // least half unless this thread stalled for half a second.
    EXPECT_GE(after->hits, 1 + 5) << "a fixed window would answer 1";
    // Two more rollovers of the probe: eve's window of `after` and the next have passed quietly.
    ASSERT_TRUE(rolled_over());
    ASSERT_TRUE(rolled_over());
    EXPECT_EQ(this->hit("login:eve", 1s)->hits, 1);
  }
}

TYPED_TEST_P(SessionStoreConformance, BadKeysAndDurationsAreInvalidArguments) {
  const std::string longest(sessions::kMaxSessionKeyBytes, 'k');
  EXPECT_EQ(outcome(this->create(longest, sessions::SessionData{1, "user"}, 60s)), "ok");
  for (const std::string& bad :
       {std::string(), std::string(sessions::kMaxSessionKeyBytes + 1, 'k'), std::string("a\nb"),
        std::string("caf\xc3\xa9"), std::string("a\0b", 3)}) {
    EXPECT_EQ(errc(this->create(bad, sessions::SessionData{1, "user"}, 60s)), "invalid_argument");
    EXPECT_EQ(errc(this->touch(bad)), "invalid_argument");
    EXPECT_EQ(errc(this->revoke(bad)), "invalid_argument");
    EXPECT_EQ(errc(this->hit(bad, 60s)), "invalid_argument");
  }
  EXPECT_EQ(errc(this->create("k", sessions::SessionData{1, "user"}, 999ms)), "invalid_argument");
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
  sessions::SessionStore& store = *this->store_;
  for (int i = 0; i < kCalls; ++i) {
    boost::asio::co_spawn(
        this->loops_->io(),
        [&, i]() -> boost::asio::awaitable<void> {
          const std::string key = "c" + std::to_string(i);
          auto c = store.create(key, sessions::SessionData{i, "user"}, 60s);
          auto made = co_await std::move(c);
          created += made.ok();
          auto t = store.touch(key, 60s);
          auto got = co_await std::move(t);
          found += got.ok() && got->user_id == i;
          auto h = store.hit("shared", 60s);
          auto counted = co_await std::move(h);
          counts[static_cast<std::size_t>(i)] = counted.ok() ? counted->hits : -1;
          auto d = store.create("duplicate", sessions::SessionData{i, "user"}, 60s);
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
                            SessionsExpireUnlessTouched, HitsCountOverASlidingWindow,
                            BadKeysAndDurationsAreInvalidArguments, ConcurrentCallsKeepTheContract);

}  // namespace ztm::test
