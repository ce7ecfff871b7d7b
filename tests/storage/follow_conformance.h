#pragma once
// The FollowStore part of the Database contract (storage/follow_store.h), as a typed suite beside
// StoreConformance; a backend's test instantiates it with the same factory (its store must be a
// Database: the second copy of an edge comes from its outbox):
//
//   INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, FollowConformance, ::testing::Types<SqliteFactory>);

#include "storage/database.h"
#include "tests/storage/store_conformance.h"

namespace ztm::test {

// The ids of a follow page.
inline std::vector<UserId> follow_ids(const Result<storage::FollowPage>& p) {
  EXPECT_EQ(outcome(p), "ok");
  std::vector<UserId> out;
  if (p.ok())
    for (const auto& e : p->users) out.push_back(e.user);
  return out;
}

// The outbox relay's follow part on `db`: every follow message applied in order, then every
// message deleted. The changes applied, in order.
inline std::vector<storage::FollowChange> relay_follows(storage::Database& db) {
  std::vector<storage::FollowChange> applied;
  for (;;) {
    auto batch = run_sync(db.outbox_batch(1000));
    EXPECT_EQ(outcome(batch), "ok");
    if (!batch.ok() || batch->empty()) return applied;
    std::vector<std::int64_t> ids;
    for (const auto& m : *batch) {
      ids.push_back(m.id);
      if (m.topic != "follow") continue;
      auto change = storage::parse_follow_payload(m.payload);
      EXPECT_EQ(outcome(change), "ok") << m.payload;
      if (!change.ok()) continue;
      EXPECT_EQ(outcome(run_sync(db.apply_follow(*change))), "ok");
      applied.push_back(std::move(*change));
    }
    EXPECT_EQ(outcome(run_sync(db.outbox_delete(ids))), "ok");
  }
}

// The versions of `changes`.
inline std::vector<std::int64_t> versions_of(const std::vector<storage::FollowChange>& changes) {
  std::vector<std::int64_t> out;
  for (const auto& c : changes) out.push_back(c.version);
  return out;
}

// The follow versions of a database written with outbox ids for versions, once migrated (SQLite
// migration 10, PostgreSQL 12). Before the migration it held: 1 -> 2 converged long ago
// (followers version 900, counted); 1 -> 3 followed, its message (outbox id 1000) waiting; 1 -> 4
// followed and unfollowed, both messages (1001, 1003) waiting, a message of another topic
// between them (1002); 5 -> 1 unfollowed long ago (a followers tombstone of 950). The followers
// rows start again at 0 and the waiting messages are their pairs' versions 1..n, so every later
// change wins on the followee's side.
inline void expect_legacy_follows_migrated(storage::Database& db) {
  EXPECT_EQ(versions_of(relay_follows(db)), (std::vector<std::int64_t>{1, 1, 2}));
  EXPECT_EQ(follow_ids(run_sync(db.list_following(1, 0, 10))), (std::vector<UserId>{2, 3}));
  EXPECT_EQ(follow_ids(run_sync(db.list_followers(3, 0, 10))), std::vector<UserId>{1});
  EXPECT_EQ(follow_ids(run_sync(db.list_followers(4, 0, 10))), std::vector<UserId>{});

  EXPECT_EQ(*run_sync(db.unfollow(1, 2)), true);               // converged: counts on from 1
  EXPECT_EQ(*run_sync(db.follow(1, 4, "one", "four")), true);  // after the remove's 2
  EXPECT_EQ(*run_sync(db.follow(5, 1, "five", "one")), true);  // the tombstone is 950 no more
  EXPECT_EQ(versions_of(relay_follows(db)), (std::vector<std::int64_t>{2, 3, 1}));
  EXPECT_EQ(follow_ids(run_sync(db.list_followers(2, 0, 10))), std::vector<UserId>{});
  EXPECT_EQ(follow_ids(run_sync(db.list_followers(4, 0, 10))), std::vector<UserId>{1});
  EXPECT_EQ(follow_ids(run_sync(db.list_followers(1, 0, 10))), std::vector<UserId>{5});
  EXPECT_EQ(run_sync(db.follow_counts(1))->following, 2);  // 3 and 4
  EXPECT_EQ(run_sync(db.follow_counts(2))->followers, 0);
}

template <class Factory>
class FollowConformance : public StoreConformance<Factory> {
 protected:
  void SetUp() override {
    StoreConformance<Factory>::SetUp();
    db_ = dynamic_cast<storage::Database*>(this->store_.get());
    ASSERT_NE(db_, nullptr);
  }
  Result<bool> follow(UserId a, UserId b) {
    return run_sync(db_->follow(a, b, "name " + std::to_string(a), "name " + std::to_string(b)));
  }
  Result<bool> unfollow(UserId a, UserId b) { return run_sync(db_->unfollow(a, b)); }
  // The follow messages in the outbox, as the relay hands them over; others are deleted.
  std::vector<storage::FollowChange> take_changes() {
    std::vector<storage::FollowChange> out;
    for (;;) {
      auto batch = run_sync(db_->outbox_batch(1000));
      EXPECT_EQ(outcome(batch), "ok");
      if (!batch.ok() || batch->empty()) return out;
      std::vector<std::int64_t> ids;
      for (const auto& m : *batch) {
        ids.push_back(m.id);
        if (m.topic != "follow") continue;
        auto c = storage::parse_follow_payload(m.payload);
        EXPECT_EQ(outcome(c), "ok") << m.payload;
        if (c.ok()) out.push_back(*c);
      }
      EXPECT_EQ(outcome(run_sync(db_->outbox_delete(ids))), "ok");
    }
  }
  Result<bool> apply(storage::FollowChange c) { return run_sync(db_->apply_follow(std::move(c))); }
  // Applies every pending follow message, in order; how many changed something.
  int apply_all() {
    int changed = 0;
    for (auto& c : take_changes()) changed += *apply(c) ? 1 : 0;
    return changed;
  }
  std::vector<UserId> following(UserId u, UserId after = 0, int limit = 1000) {
    auto p = run_sync(db_->list_following(u, after, limit));
    return ids_of(p);
  }
  std::vector<UserId> followers(UserId u, UserId after = 0, int limit = 1000) {
    auto p = run_sync(db_->list_followers(u, after, limit));
    return ids_of(p);
  }
  storage::FollowCounts counts(UserId u) {
    auto c = run_sync(db_->follow_counts(u));
    EXPECT_EQ(outcome(c), "ok");
    return c.ok() ? *c : storage::FollowCounts{-1, -1};
  }
  static std::vector<UserId> ids_of(const Result<storage::FollowPage>& p) { return follow_ids(p); }
  storage::Database* db_ = nullptr;
};

TYPED_TEST_SUITE_P(FollowConformance);

using FollowIds = std::vector<UserId>;
using storage::FollowCounts;

TYPED_TEST_P(FollowConformance, FollowWritesTheFirstCopyAndOneMessage) {
  EXPECT_EQ(*this->follow(11, 22), true);
  EXPECT_EQ(*this->follow(11, 22), false);  // there already: no second message
  auto page = run_sync(this->db_->list_following(11, 0, 10));
  ASSERT_EQ(outcome(page), "ok");
  ASSERT_EQ(page->users.size(), 1u);
  EXPECT_EQ(page->users[0], (storage::FollowEdge{22, "name 22"}));
  EXPECT_FALSE(page->more);
  EXPECT_EQ(this->followers(22), FollowIds{});  // the second copy waits for the outbox
  const auto changes = this->take_changes();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].op, storage::FollowChange::Op::add);
  EXPECT_EQ(changes[0].follower, 11);
  EXPECT_EQ(changes[0].followee, 22);
  EXPECT_EQ(changes[0].follower_name, "name 11");
  EXPECT_EQ(changes[0].version, 1);  // the pair's first change
}

TYPED_TEST_P(FollowConformance, ApplyingWritesTheSecondCopyOnce) {
  ASSERT_EQ(*this->follow(11, 22), true);
  auto changes = this->take_changes();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(*this->apply(changes[0]), true);
  EXPECT_EQ(*this->apply(changes[0]), false);  // again (a crash before its delete): no change
  auto page = run_sync(this->db_->list_followers(22, 0, 10));
  ASSERT_EQ(outcome(page), "ok");
  ASSERT_EQ(page->users.size(), 1u);
  EXPECT_EQ(page->users[0], (storage::FollowEdge{11, "name 11"}));
  EXPECT_EQ(this->counts(22), (FollowCounts{1, 0}));
  EXPECT_EQ(this->counts(11), (FollowCounts{0, 1}));

  EXPECT_EQ(*this->unfollow(11, 22), true);
  EXPECT_EQ(*this->unfollow(11, 22), false);
  EXPECT_EQ(this->following(11), FollowIds{});
  EXPECT_EQ(this->apply_all(), 1);
  EXPECT_EQ(this->followers(22), FollowIds{});
  EXPECT_EQ(this->counts(22), (FollowCounts{0, 0}));
  EXPECT_EQ(this->counts(11), (FollowCounts{0, 0}));
}

// Messages applied again or late (a replay after a crash, a slow second relay) never bring back
// an older state.
TYPED_TEST_P(FollowConformance, AnOlderChangeNeverOverridesANewerOne) {
  ASSERT_EQ(*this->follow(11, 22), true);
  ASSERT_EQ(*this->unfollow(11, 22), true);
  auto changes = this->take_changes();
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_LT(changes[0].version, changes[1].version);
  EXPECT_EQ(*this->apply(changes[0]), true);
  EXPECT_EQ(*this->apply(changes[1]), true);
  EXPECT_EQ(*this->apply(changes[0]), false);  // the add, replayed: no resurrection
  EXPECT_EQ(this->followers(22), FollowIds{});
  EXPECT_EQ(this->counts(22).followers, 0);

  // The remove before the add (two relays out of step): the same end.
  ASSERT_EQ(*this->follow(33, 44), true);
  ASSERT_EQ(*this->unfollow(33, 44), true);
  changes = this->take_changes();
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(*this->apply(changes[1]), true);
  EXPECT_EQ(*this->apply(changes[0]), false);
  EXPECT_EQ(this->followers(44), FollowIds{});
  EXPECT_EQ(this->counts(44).followers, 0);

  // Following again afterwards is a newer change.
  ASSERT_EQ(*this->follow(33, 44), true);
  EXPECT_EQ(this->apply_all(), 1);
  EXPECT_EQ(this->followers(44), FollowIds{33});
  EXPECT_EQ(this->counts(44).followers, 1);
}

TYPED_TEST_P(FollowConformance, PagesGoByTheOtherUsersId) {
  for (UserId u : {15, 12, 14, 11, 13}) ASSERT_EQ(*this->follow(100, u), true);
  for (UserId u : {25, 22, 24, 21, 23}) ASSERT_EQ(*this->follow(u, 200), true);
  EXPECT_EQ(this->apply_all(), 10);
  EXPECT_EQ(this->following(100), (FollowIds{11, 12, 13, 14, 15}));
  EXPECT_EQ(this->followers(200), (FollowIds{21, 22, 23, 24, 25}));
  auto first = run_sync(this->db_->list_following(100, 0, 2));
  EXPECT_EQ(this->ids_of(first), (FollowIds{11, 12}));
  EXPECT_TRUE(first->more);
  auto last = run_sync(this->db_->list_followers(200, 23, 2));
  EXPECT_EQ(this->ids_of(last), (FollowIds{24, 25}));
  EXPECT_FALSE(last->more);
  EXPECT_EQ(this->followers(200, 25), FollowIds{});
  EXPECT_EQ(this->following(100, 12, 2), (FollowIds{13, 14}));
  EXPECT_EQ(this->following(21), FollowIds{200});
  EXPECT_EQ(this->followers(100), FollowIds{});  // nobody follows 100

  // Unfollowed edges stay as tombstones (for their versions): pages, cursors and counts skip
  // them.
  ASSERT_EQ(*this->unfollow(100, 12), true);
  ASSERT_EQ(*this->unfollow(100, 14), true);
  first = run_sync(this->db_->list_following(100, 0, 2));
  EXPECT_EQ(this->ids_of(first), (FollowIds{11, 13}));
  EXPECT_TRUE(first->more);
  auto rest = run_sync(this->db_->list_following(100, 13, 2));
  EXPECT_EQ(this->ids_of(rest), (FollowIds{15}));
  EXPECT_FALSE(rest->more);
  auto exact = run_sync(this->db_->list_following(100, 0, 3));
  EXPECT_EQ(this->ids_of(exact), (FollowIds{11, 13, 15}));
  EXPECT_FALSE(exact->more);
  EXPECT_EQ(this->counts(100).following, 3);
}

// A pair's version is its own count of changes, kept in the follower's row (a tombstone once
// unfollowed): follow, unfollow and follow again are versions 1, 2, 3, whatever else the outbox
// carried meanwhile; a repeat that changes nothing takes none.
TYPED_TEST_P(FollowConformance, EveryChangeOfAPairBumpsItsVersion) {
  ASSERT_EQ(*this->follow(11, 22), true);
  ASSERT_EQ(*this->follow(11, 33), true);  // another pair: versions of its own
  ASSERT_EQ(*this->unfollow(11, 22), true);
  ASSERT_EQ(*this->unfollow(11, 22), false);
  ASSERT_EQ(*this->follow(11, 22), true);
  ASSERT_EQ(*this->follow(11, 22), false);
  std::vector<storage::FollowChange> pair;
  for (auto& c : this->take_changes()) {
    if (c.followee == 22) {
      pair.push_back(std::move(c));
    } else {
      EXPECT_EQ(c.version, 1);  // 11 -> 33
    }
  }
  ASSERT_EQ(pair.size(), 3u);
  EXPECT_EQ(pair[0].op, storage::FollowChange::Op::add);
  EXPECT_EQ(pair[1].op, storage::FollowChange::Op::remove);
  EXPECT_EQ(pair[2].op, storage::FollowChange::Op::add);
  EXPECT_EQ((std::vector<std::int64_t>{pair[0].version, pair[1].version, pair[2].version}),
            (std::vector<std::int64_t>{1, 2, 3}));

  // The newest first: the older ones change nothing, neither the edge nor the count.
  EXPECT_EQ(*this->apply(pair[2]), true);
  EXPECT_EQ(*this->apply(pair[1]), false);
  EXPECT_EQ(*this->apply(pair[0]), false);
  EXPECT_EQ(this->followers(22), FollowIds{11});
  EXPECT_EQ(this->counts(22).followers, 1);
  // An unfollow now counts on from 3.
  ASSERT_EQ(*this->unfollow(11, 22), true);
  auto last = this->take_changes();
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].version, 4);
  EXPECT_EQ(*this->apply(last[0]), true);
  EXPECT_EQ(*this->apply(pair[2]), false);  // the follow, replayed: no resurrection
  EXPECT_EQ(this->followers(22), FollowIds{});
  EXPECT_EQ(this->counts(22).followers, 0);
  EXPECT_EQ(this->following(11), FollowIds{33});
  EXPECT_EQ(this->counts(11).following, 1);
}

// Many followers of one user land in every counter slot; the sum is the count.
TYPED_TEST_P(FollowConformance, CountsSumTheSlots) {
  constexpr UserId kStar = 1'000'000;
  for (UserId u = 1; u <= 40; ++u) ASSERT_EQ(*this->follow(u, kStar), true);
  ASSERT_EQ(*this->follow(kStar, 7), true);
  EXPECT_EQ(this->apply_all(), 41);
  EXPECT_EQ(this->counts(kStar), (FollowCounts{40, 1}));
  for (UserId u = 1; u <= 15; ++u) ASSERT_EQ(*this->unfollow(u, kStar), true);
  EXPECT_EQ(this->apply_all(), 15);
  EXPECT_EQ(this->counts(kStar), (FollowCounts{25, 1}));
  EXPECT_EQ(this->counts(7), (FollowCounts{1, 0}));
  EXPECT_EQ(this->counts(3), (FollowCounts{0, 0}));
  EXPECT_EQ(this->counts(30), (FollowCounts{0, 1}));
}

TYPED_TEST_P(FollowConformance, BadArgumentsAreInvalid) {
  auto& d = *this->db_;
  EXPECT_EQ(errc(this->follow(5, 5)), "invalid_argument");
  EXPECT_EQ(errc(this->follow(0, 5)), "invalid_argument");
  EXPECT_EQ(errc(this->follow(5, -1)), "invalid_argument");
  EXPECT_EQ(errc(this->unfollow(5, 5)), "invalid_argument");
  const std::string nul("a\0b", 3), longest(storage::kMaxFollowNameBytes, 'n');
  EXPECT_EQ(errc(run_sync(d.follow(5, 6, nul, "b"))), "invalid_argument");
  EXPECT_EQ(errc(run_sync(d.follow(5, 6, "a", longest + "n"))), "invalid_argument");
  EXPECT_EQ(*run_sync(d.follow(5, 6, longest, longest)), true);
  for (int limit : {0, -1, 1001}) {
    EXPECT_EQ(errc(run_sync(d.list_following(5, 0, limit))), "invalid_argument") << limit;
    EXPECT_EQ(errc(run_sync(d.list_followers(5, 0, limit))), "invalid_argument") << limit;
  }
  storage::FollowChange self{storage::FollowChange::Op::add, 5, 5, "x", 1};
  EXPECT_EQ(errc(this->apply(self)), "invalid_argument");
  EXPECT_EQ(errc(storage::parse_follow_payload(R"({"op":"add","follower":1})")),
            "invalid_argument");
  EXPECT_EQ(errc(storage::parse_follow_payload("[")), "invalid_argument");
  const std::string add = R"({"op":"add","follower":1,"followee":2,"follower_name":"a")";
  EXPECT_EQ(outcome(storage::parse_follow_payload(add + R"(,"version":1})")), "ok");
  for (std::string version : {"", R"(,"version":0)", R"(,"version":-3)", R"(,"version":"1")",
                              R"(,"version":1.5)", R"(,"version":null)"})
    EXPECT_EQ(errc(storage::parse_follow_payload(add + version + "}")), "invalid_argument")
        << version;
}

REGISTER_TYPED_TEST_SUITE_P(FollowConformance, FollowWritesTheFirstCopyAndOneMessage,
                            ApplyingWritesTheSecondCopyOnce, AnOlderChangeNeverOverridesANewerOne,
                            PagesGoByTheOtherUsersId, EveryChangeOfAPairBumpsItsVersion,
                            CountsSumTheSlots, BadArgumentsAreInvalid);

}  // namespace ztm::test
