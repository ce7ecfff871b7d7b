#pragma once
// The contract of src/storage/store.h as a typed test suite that every Store backend passes.
// A backend's test instantiates it with a factory whose make() returns a fresh, empty, migrated
// store on every call:
//
//   struct SqliteFactory { static std::unique_ptr<ztm::storage::Store> make(); };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, StoreConformance, ::testing::Types<SqliteFactory>);
//
// Calls go through run_sync (a private io_context per call), from one thread or from several at
// once: a server calls its store from one event loop per core.

#include <gtest/gtest.h>

#include <barrier>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <latch>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/run_sync.h"
#include "storage/store.h"

namespace ztm::test {

// A user with every field set; `tag` varies the content between versions.
inline storage::User sample_user(UserId id, const std::string& tag = "a") {
  return storage::User{id,
                       "Ada-" + tag,
                       "Lovelace-" + tag,
                       storage::Address{"12 St James's Square " + tag, "London", "LDN", 10021},
                       {"+44 20 7946 0000", "+44 20 7946 " + tag}};
}

// Results as strings, so EXPECT_EQ failures read well:
// outcome(r) is "ok" or "not_found (user 42 not found)", for asserting success;
// errc(r) is "ok" or "not_found", for asserting which error.
template <class R>
std::string outcome(const R& r) {
  return r.ok() ? "ok" : std::string(to_string(r.error().code)) + " (" + r.error().message + ")";
}
template <class R>
std::string errc(const R& r) {
  return r.ok() ? "ok" : std::string(to_string(r.error().code));
}

template <class Factory>
class StoreConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = Factory::make();
    ASSERT_NE(store_, nullptr);
  }

  storage::Store& store() { return *store_; }
  Result<storage::StoredUser> get(UserId id) { return run_sync(store_->get_user(id)); }
  Result<storage::StoredUser> create(storage::User u,
                                     std::optional<std::string> key = std::nullopt) {
    return run_sync(store_->create_user(std::move(u), std::move(key)));
  }
  Result<storage::StoredUser> update(storage::User u,
                                     std::optional<std::int64_t> expected = std::nullopt) {
    return run_sync(store_->update_user(std::move(u), expected));
  }
  Result<storage::Committed> remove(UserId id,
                                    std::optional<std::int64_t> expected = std::nullopt) {
    return run_sync(store_->delete_user(id, expected));
  }
  Result<storage::UserPage> list(UserId after, int limit) {
    return run_sync(store_->list_users(after, limit));
  }
  Result<std::int64_t> count() { return run_sync(store_->count_users()); }

  // Ids of a page, for compact expectations.
  static std::vector<UserId> ids(const storage::UserPage& page) {
    std::vector<UserId> out;
    for (const auto& s : page.users) out.push_back(s.user.id);
    return out;
  }

  // Runs `attempt(i)` for i in [0, n) on n threads released together, so the calls overlap.
  template <class R, class F>
  static std::vector<std::optional<R>> race(int n, F attempt) {
    std::vector<std::optional<R>> results(static_cast<std::size_t>(n));
    std::latch start(n);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i)
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        results[static_cast<std::size_t>(i)].emplace(attempt(i));
      });
    for (auto& t : threads) t.join();
    return results;
  }

  std::unique_ptr<storage::Store> store_;
};

TYPED_TEST_SUITE_P(StoreConformance);

TYPED_TEST_P(StoreConformance, CreateThenGetRoundTripsEveryField) {
  const storage::User u{
      kMaxSafeInteger,
      "Zoë 😀",
      "Ørsted-北京",
      storage::Address{"Straße 1, \"quoted\" \\ back\\slash\n", "Zürich", "ZH", 8001},
      {"+41 44 123 45 67", "☎ 555-0100 ext. \"7\""}};
  const auto created = this->create(u);
  ASSERT_EQ(outcome(created), "ok");
  EXPECT_EQ(created.value(), (storage::StoredUser{u, 1}));
  const auto got = this->get(u.id);
  ASSERT_EQ(outcome(got), "ok");
  EXPECT_EQ(got.value(), (storage::StoredUser{u, 1}));
}

TYPED_TEST_P(StoreConformance, EmptyStringsAndEmptyPhoneListRoundTrip) {
  const storage::User u{7, "", "", storage::Address{"", "", "", 0}, {}};
  ASSERT_EQ(outcome(this->create(u)), "ok");
  const auto got = this->get(7);
  ASSERT_EQ(outcome(got), "ok");
  EXPECT_EQ(got->user, u);
  EXPECT_TRUE(got->user.phone_numbers.empty());
}

TYPED_TEST_P(StoreConformance, ManyPhoneNumbersKeepTheirOrder) {
  storage::User u = sample_user(8);
  u.phone_numbers.clear();
  for (int i = 0; i < 200; ++i) u.phone_numbers.push_back("+1 555 " + std::to_string(199 - i));
  u.phone_numbers.push_back("");  // an empty entry is a value too
  ASSERT_EQ(outcome(this->create(u)), "ok");
  const auto got = this->get(8);
  ASSERT_EQ(outcome(got), "ok");
  EXPECT_EQ(got->user.phone_numbers, u.phone_numbers);
}

TYPED_TEST_P(StoreConformance, LargeValuesRoundTrip) {
  storage::User u = sample_user(9);
  u.first_name = std::string(256 * 1024, 'x') + "é";
  u.address.street_address = std::string(64 * 1024, 'y');
  u.address.postal_code = -kMaxSafeInteger;
  u.phone_numbers.assign(2000, std::string(40, '7'));
  ASSERT_EQ(outcome(this->create(u)), "ok");
  const auto got = this->get(9);
  ASSERT_EQ(outcome(got), "ok");
  EXPECT_TRUE(got->user == u) << "large user did not round-trip";
}

TYPED_TEST_P(StoreConformance, GetMissingIsNotFound) {
  EXPECT_EQ(errc(this->get(42)), "not_found");
  ASSERT_EQ(outcome(this->create(sample_user(41))), "ok");
  EXPECT_EQ(errc(this->get(42)), "not_found");
  EXPECT_EQ(errc(this->get(40)), "not_found");
}

TYPED_TEST_P(StoreConformance, CreateWithExistingIdIsConflictAndKeepsTheOriginal) {
  ASSERT_EQ(outcome(this->create(sample_user(5, "first"))), "ok");
  EXPECT_EQ(errc(this->create(sample_user(5, "second"))), "conflict");
  const auto got = this->get(5);
  ASSERT_EQ(outcome(got), "ok");
  EXPECT_EQ(got.value(), (storage::StoredUser{sample_user(5, "first"), 1}));
}

TYPED_TEST_P(StoreConformance, VersionIsOneOnCreateAndGrowsByOnePerUpdate) {
  const auto created = this->create(sample_user(3));
  ASSERT_EQ(outcome(created), "ok");
  EXPECT_EQ(created->version, 1);
  for (std::int64_t v = 2; v <= 5; ++v) {
    const storage::User next = sample_user(3, "v" + std::to_string(v));
    const auto updated = this->update(next);
    ASSERT_EQ(outcome(updated), "ok");
    EXPECT_EQ(updated.value(), (storage::StoredUser{next, v}));
    const auto got = this->get(3);
    ASSERT_EQ(outcome(got), "ok");
    EXPECT_EQ(got.value(), (storage::StoredUser{next, v}));
  }
}

TYPED_TEST_P(StoreConformance, UpdateReplacesEveryField) {
  ASSERT_EQ(outcome(this->create(sample_user(4))), "ok");
  const storage::User next{
      4, "Grace", "Hopper", storage::Address{"1 Navy Way", "Arlington", "VA", 22202}, {}};
  ASSERT_EQ(outcome(this->update(next, 1)), "ok");
  const auto got = this->get(4);
  ASSERT_EQ(outcome(got), "ok");
  EXPECT_EQ(got.value(), (storage::StoredUser{next, 2}));
}

TYPED_TEST_P(StoreConformance, UpdateMissingIsNotFound) {
  EXPECT_EQ(errc(this->update(sample_user(6))), "not_found");
  EXPECT_EQ(errc(this->update(sample_user(6), 1)), "not_found");
  EXPECT_EQ(errc(this->get(6)), "not_found") << "a failed update must not create";
}

TYPED_TEST_P(StoreConformance, UpdateWithWrongVersionFailsAndChangesNothing) {
  ASSERT_EQ(outcome(this->create(sample_user(10))), "ok");
  ASSERT_EQ(outcome(this->update(sample_user(10, "b"), 1)), "ok");  // now at version 2
  for (std::int64_t stale : {1, 3, 0, -1}) {
    EXPECT_EQ(errc(this->update(sample_user(10, "c"), stale)), "precondition_failed")
        << "expected_version " << stale;
  }
  const auto got = this->get(10);
  ASSERT_EQ(outcome(got), "ok");
  EXPECT_EQ(got.value(), (storage::StoredUser{sample_user(10, "b"), 2}));
  const auto updated = this->update(sample_user(10, "d"), 2);
  ASSERT_EQ(outcome(updated), "ok");
  EXPECT_EQ(updated.value(), (storage::StoredUser{sample_user(10, "d"), 3}));
}

TYPED_TEST_P(StoreConformance, DeleteWithoutVersionRemovesTheUser) {
  ASSERT_EQ(outcome(this->create(sample_user(11))), "ok");
  ASSERT_EQ(outcome(this->create(sample_user(12))), "ok");
  EXPECT_EQ(outcome(this->remove(11)), "ok");
  EXPECT_EQ(errc(this->get(11)), "not_found");
  EXPECT_EQ(errc(this->remove(11)), "not_found");
  EXPECT_EQ(outcome(this->get(12)), "ok") << "delete must touch only its user";
  // The id is free again: a new create starts over at version 1.
  const auto again = this->create(sample_user(11, "new"));
  ASSERT_EQ(outcome(again), "ok");
  EXPECT_EQ(again->version, 1);
}

TYPED_TEST_P(StoreConformance, DeleteWithExpectedVersionIsCompareAndSet) {
  ASSERT_EQ(outcome(this->create(sample_user(13))), "ok");
  ASSERT_EQ(outcome(this->update(sample_user(13, "b"))), "ok");  // version 2
  EXPECT_EQ(errc(this->remove(13, 1)), "precondition_failed");
  EXPECT_EQ(errc(this->remove(13, 3)), "precondition_failed");
  const auto kept = this->get(13);
  ASSERT_EQ(outcome(kept), "ok");
  EXPECT_EQ(kept.value(), (storage::StoredUser{sample_user(13, "b"), 2}));
  EXPECT_EQ(outcome(this->remove(13, 2)), "ok");
  EXPECT_EQ(errc(this->get(13)), "not_found");
}

TYPED_TEST_P(StoreConformance, DeleteMissingIsNotFound) {
  EXPECT_EQ(errc(this->remove(14)), "not_found");
  EXPECT_EQ(errc(this->remove(14, 1)), "not_found");
}

TYPED_TEST_P(StoreConformance, ListUsersPaginatesInIdOrder) {
  // Numeric order differs from text order here (9 < 10 < 100), and the largest id is 53 bits.
  const std::vector<UserId> created = {100, kMaxSafeInteger, 9, 1000, 10};
  for (UserId id : created) ASSERT_EQ(outcome(this->create(sample_user(id))), "ok");
  ASSERT_EQ(outcome(this->update(sample_user(100, "b"))), "ok");

  auto page = this->list(0, 2);
  ASSERT_EQ(outcome(page), "ok");
  EXPECT_EQ(this->ids(*page), (std::vector<UserId>{9, 10}));
  EXPECT_TRUE(page->more);

  page = this->list(10, 2);
  ASSERT_EQ(outcome(page), "ok");
  EXPECT_EQ(this->ids(*page), (std::vector<UserId>{100, 1000}));
  EXPECT_TRUE(page->more);
  ASSERT_EQ(page->users.size(), 2u);
  EXPECT_EQ(page->users[0], (storage::StoredUser{sample_user(100, "b"), 2}))
      << "pages hold full records";

  page = this->list(1000, 2);
  ASSERT_EQ(outcome(page), "ok");
  EXPECT_EQ(this->ids(*page), (std::vector<UserId>{kMaxSafeInteger}));
  EXPECT_FALSE(page->more);

  page = this->list(kMaxSafeInteger, 2);
  ASSERT_EQ(outcome(page), "ok");
  EXPECT_TRUE(page->users.empty());
  EXPECT_FALSE(page->more);

  page = this->list(50, 1000);  // `after` need not be an existing id
  ASSERT_EQ(outcome(page), "ok");
  EXPECT_EQ(this->ids(*page), (std::vector<UserId>{100, 1000, kMaxSafeInteger}));
  EXPECT_FALSE(page->more);

  page = this->list(0, 5);  // exactly the remaining count: no more
  ASSERT_EQ(outcome(page), "ok");
  EXPECT_EQ(page->users.size(), 5u);
  EXPECT_FALSE(page->more);

  page = this->list(0, 4);
  ASSERT_EQ(outcome(page), "ok");
  EXPECT_EQ(this->ids(*page), (std::vector<UserId>{9, 10, 100, 1000}));
  EXPECT_TRUE(page->more);

  ASSERT_EQ(outcome(this->remove(10)), "ok");
  page = this->list(0, 1);
  ASSERT_EQ(outcome(page), "ok");
  EXPECT_EQ(this->ids(*page), (std::vector<UserId>{9}));
  EXPECT_TRUE(page->more);
  page = this->list(9, 1);
  ASSERT_EQ(outcome(page), "ok");
  EXPECT_EQ(this->ids(*page), (std::vector<UserId>{100})) << "deleted users leave the list";
}

TYPED_TEST_P(StoreConformance, ListUsersOfAnEmptyStoreIsAnEmptyPage) {
  const auto page = this->list(0, 1000);
  ASSERT_EQ(outcome(page), "ok");
  EXPECT_TRUE(page->users.empty());
  EXPECT_FALSE(page->more);
}

TYPED_TEST_P(StoreConformance, CountUsersFollowsCreatesAndDeletes) {
  auto n = this->count();
  ASSERT_EQ(outcome(n), "ok");
  EXPECT_EQ(*n, 0);
  for (UserId id : {21, 22, 23}) ASSERT_EQ(outcome(this->create(sample_user(id))), "ok");
  ASSERT_EQ(outcome(this->update(sample_user(22, "b"))), "ok");
  EXPECT_EQ(errc(this->create(sample_user(21))), "conflict");
  n = this->count();
  ASSERT_EQ(outcome(n), "ok");
  EXPECT_EQ(*n, 3);
  ASSERT_EQ(outcome(this->remove(21)), "ok");
  n = this->count();
  ASSERT_EQ(outcome(n), "ok");
  EXPECT_EQ(*n, 2);
}

TYPED_TEST_P(StoreConformance, PingSucceeds) {
  EXPECT_EQ(outcome(run_sync(this->store().ping())), "ok");
}

TYPED_TEST_P(StoreConformance, ConcurrentUpdatesWithTheSameVersionHaveOneWinner) {
  constexpr int kRounds = 20;  // a lost race shows up in some rounds, not all
  constexpr int kWriters = 8;
  for (UserId id = 1; id <= kRounds; ++id) {
    ASSERT_EQ(outcome(this->create(sample_user(id))), "ok");
    auto results = this->template race<Result<storage::StoredUser>>(kWriters, [&](int i) {
      return run_sync(this->store().update_user(sample_user(id, "w" + std::to_string(i)), 1));
    });
    int winner = -1;
    for (int i = 0; i < kWriters; ++i) {
      const auto& r = results[static_cast<std::size_t>(i)];
      ASSERT_TRUE(r.has_value());
      if (r->ok()) {
        EXPECT_EQ(winner, -1) << "two updates with expected_version 1 both succeeded";
        winner = i;
        EXPECT_EQ(r->value().version, 2);
      } else {
        EXPECT_EQ(errc(*r), "precondition_failed");
      }
    }
    ASSERT_NE(winner, -1) << "no update succeeded";
    const auto got = this->get(id);
    ASSERT_EQ(outcome(got), "ok");
    EXPECT_EQ(got.value(), (storage::StoredUser{sample_user(id, "w" + std::to_string(winner)), 2}));
  }
}

TYPED_TEST_P(StoreConformance, ConcurrentUnconditionalUpdatesLoseNoIncrement) {
  constexpr int kWriters = 8;
  constexpr int kUpdatesEach = 10;
  ASSERT_EQ(outcome(this->create(sample_user(30))), "ok");
  auto results = this->template race<int>(kWriters, [&](int i) {
    int ok = 0;
    for (int k = 0; k < kUpdatesEach; ++k)
      ok += run_sync(this->store().update_user(sample_user(30, std::to_string(i)), std::nullopt))
                .ok();
    return ok;
  });
  for (const auto& r : results) EXPECT_EQ(r.value_or(-1), kUpdatesEach);
  const auto got = this->get(30);
  ASSERT_EQ(outcome(got), "ok");
  EXPECT_EQ(got->version, 1 + kWriters * kUpdatesEach);
}

TYPED_TEST_P(StoreConformance, ConcurrentCreatesAndDeletesOfOneIdHaveOneWinner) {
  constexpr int kClients = 8;
  auto creates = this->template race<Result<storage::StoredUser>>(kClients, [&](int i) {
    return run_sync(this->store().create_user(sample_user(31, std::to_string(i))));
  });
  int created = 0;
  for (const auto& r : creates) {
    ASSERT_TRUE(r.has_value());
    created += r->ok();
    EXPECT_TRUE(r->ok() || errc(*r) == "conflict") << outcome(*r);
  }
  EXPECT_EQ(created, 1);
  auto deletes = this->template race<Result<storage::Committed>>(
      kClients, [&](int) { return run_sync(this->store().delete_user(31, 1)); });
  int deleted = 0;
  for (const auto& r : deletes) {
    ASSERT_TRUE(r.has_value());
    deleted += r->ok();
    EXPECT_TRUE(r->ok() || errc(*r) == "not_found") << outcome(*r);
  }
  EXPECT_EQ(deleted, 1);
  EXPECT_EQ(errc(this->get(31)), "not_found");
}

TYPED_TEST_P(StoreConformance, CreatesWithTheSameIdempotencyKeyMakeOneUser) {
  const auto first = this->create(sample_user(40), "key-1");
  ASSERT_EQ(outcome(first), "ok");
  // The repeat carries another id (a server generates one per request): it creates nothing and
  // answers with the first user.
  const auto again = this->create(sample_user(41, "other"), "key-1");
  ASSERT_EQ(outcome(again), "ok");
  EXPECT_EQ(again.value(), (storage::StoredUser{sample_user(40), 1}));
  EXPECT_EQ(errc(this->get(41)), "not_found");
  // Another key is another user.
  ASSERT_EQ(outcome(this->create(sample_user(42), "key-2")), "ok");
  EXPECT_EQ(this->count().value(), 2);
  // A key answers with the user as it is now.
  ASSERT_EQ(outcome(this->update(sample_user(40, "b"))), "ok");
  EXPECT_EQ(this->create(sample_user(43), "key-1").value(),
            (storage::StoredUser{sample_user(40, "b"), 2}));
}

TYPED_TEST_P(StoreConformance, AFailedKeyedCreateLeavesTheKeyUnused) {
  ASSERT_EQ(outcome(this->create(sample_user(50))), "ok");
  EXPECT_EQ(errc(this->create(sample_user(50, "b"), "key-3")), "conflict");
  const auto retried = this->create(sample_user(51), "key-3");
  ASSERT_EQ(outcome(retried), "ok");
  EXPECT_EQ(retried->user.id, 51);
  EXPECT_EQ(errc(this->create(sample_user(52), "")), "invalid_argument");
  EXPECT_EQ(
      errc(this->create(sample_user(52), std::string(storage::kMaxIdempotencyKeyBytes + 1, 'k'))),
      "invalid_argument");
  EXPECT_EQ(
      outcome(this->create(sample_user(52), std::string(storage::kMaxIdempotencyKeyBytes, 'k'))),
      "ok");
}

TYPED_TEST_P(StoreConformance, ConcurrentCreatesWithOneIdempotencyKeyMakeOneUser) {
  constexpr int kClients = 8;
  auto creates = this->template race<Result<storage::StoredUser>>(kClients, [&](int i) {
    return run_sync(this->store().create_user(sample_user(60 + i), std::string("key-race")));
  });
  std::optional<UserId> id;
  for (const auto& r : creates) {
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(outcome(*r), "ok");
    if (!id) id = r->value().user.id;
    EXPECT_EQ(r->value().user.id, *id) << "two users for one key";
  }
  EXPECT_EQ(this->count().value(), 1);
}

// A client's retry racing its original: the same user under the same key, at once. On
// PostgreSQL the key's row has two unique indexes (the key; the bucket and the key), and a
// conflict on the one that is not ON CONFLICT's arbiter was an error, not "the key was used".
// Each round is a race that is rarely lost, hence the rounds; each client keeps its loop (and
// so its connections) across them, and a barrier starts every round.
TYPED_TEST_P(StoreConformance, ConcurrentRetriesOfOneKeyedCreateMakeOneUser) {
  constexpr int kRounds = 40;
  constexpr int kClients = 8;
  using Created = std::optional<Result<storage::StoredUser>>;
  std::vector<std::vector<Created>> results(kClients, std::vector<Created>(kRounds));
  std::barrier round_start(kClients);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c)
    clients.emplace_back([&, c] {
      boost::asio::io_context io;
      for (int round = 0; round < kRounds; ++round) {
        round_start.arrive_and_wait();
        boost::asio::co_spawn(
            io,
            ztm::detail::store_into(
                this->store().create_user(sample_user(700 + round),
                                          "retry-" + std::to_string(round)),
                results[static_cast<std::size_t>(c)][static_cast<std::size_t>(round)]),
            boost::asio::detached);
        io.restart();
        io.run();
      }
    });
  for (auto& t : clients) t.join();
  for (int round = 0; round < kRounds; ++round)
    for (const auto& client : results) {
      const auto& r = client[static_cast<std::size_t>(round)];
      ASSERT_TRUE(r.has_value()) << "round " << round << " never completed";
      ASSERT_EQ(outcome(*r), "ok") << "round " << round;
      EXPECT_EQ(r->value(), (storage::StoredUser{sample_user(700 + round), 1}))
          << "round " << round;
    }
  EXPECT_EQ(this->count().value(), kRounds);
}

namespace detail {
inline boost::asio::awaitable<void> create_into(storage::Store& store, storage::User u,
                                                std::optional<Result<storage::StoredUser>>& out) {
  out.emplace(co_await store.create_user(std::move(u)));
}
}  // namespace detail

TYPED_TEST_P(StoreConformance, ManyCoroutinesOnOneMultiThreadedLoopAllComplete) {
  constexpr int kUsers = 200;
  constexpr int kThreads = 4;
  std::vector<std::optional<Result<storage::StoredUser>>> results(kUsers);
  boost::asio::io_context io;
  for (int i = 0; i < kUsers; ++i)
    boost::asio::co_spawn(io,
                          detail::create_into(this->store(), sample_user(1000 + i),
                                              results[static_cast<std::size_t>(i)]),
                          boost::asio::detached);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back([&io] { io.run(); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < kUsers; ++i) {
    const auto& r = results[static_cast<std::size_t>(i)];
    ASSERT_TRUE(r.has_value()) << "call " << i << " never completed";
    EXPECT_EQ(outcome(*r), "ok");
  }
  auto n = this->count();
  ASSERT_EQ(outcome(n), "ok");
  EXPECT_EQ(*n, kUsers);
  auto page = this->list(1000 + kUsers - 2, 1000);
  ASSERT_EQ(outcome(page), "ok");
  EXPECT_EQ(this->ids(*page), (std::vector<UserId>{1000 + kUsers - 1}));
}

REGISTER_TYPED_TEST_SUITE_P(
    StoreConformance, CreateThenGetRoundTripsEveryField, EmptyStringsAndEmptyPhoneListRoundTrip,
    ManyPhoneNumbersKeepTheirOrder, LargeValuesRoundTrip, GetMissingIsNotFound,
    CreateWithExistingIdIsConflictAndKeepsTheOriginal, VersionIsOneOnCreateAndGrowsByOnePerUpdate,
    UpdateReplacesEveryField, UpdateMissingIsNotFound, UpdateWithWrongVersionFailsAndChangesNothing,
    DeleteWithoutVersionRemovesTheUser, DeleteWithExpectedVersionIsCompareAndSet,
    DeleteMissingIsNotFound, ListUsersPaginatesInIdOrder, ListUsersOfAnEmptyStoreIsAnEmptyPage,
    CountUsersFollowsCreatesAndDeletes, PingSucceeds,
    ConcurrentUpdatesWithTheSameVersionHaveOneWinner, ConcurrentUnconditionalUpdatesLoseNoIncrement,
    ConcurrentCreatesAndDeletesOfOneIdHaveOneWinner,
    ManyCoroutinesOnOneMultiThreadedLoopAllComplete, CreatesWithTheSameIdempotencyKeyMakeOneUser,
    AFailedKeyedCreateLeavesTheKeyUnused, ConcurrentCreatesWithOneIdempotencyKeyMakeOneUser,
    ConcurrentRetriesOfOneKeyedCreateMakeOneUser);

}  // namespace ztm::test
