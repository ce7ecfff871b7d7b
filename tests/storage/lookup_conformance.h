#pragma once
// The LookupStore part of the Database contract (storage/lookup_store.h), as a typed suite beside
// StoreConformance; a backend's test instantiates it with the same factory (its store must be a
// LookupStore):
//
//   INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, LookupConformance, ::testing::Types<SqliteFactory>);

#include "storage/lookup_store.h"
#include "tests/storage/store_conformance.h"

namespace ztm::test {

template <class Factory>
class LookupConformance : public StoreConformance<Factory> {
 protected:
  void SetUp() override {
    StoreConformance<Factory>::SetUp();
    lookups_ = dynamic_cast<storage::LookupStore*>(this->store_.get());
    ASSERT_NE(lookups_, nullptr);
  }
  Result<UserId> put(storage::LookupKind kind, const std::string& key, UserId owner) {
    return run_sync(lookups_->put_lookup(kind, key, owner));
  }
  Result<UserId> find(storage::LookupKind kind, const std::string& key) {
    return run_sync(lookups_->find_lookup(kind, key));
  }
  storage::LookupStore* lookups_ = nullptr;
};

TYPED_TEST_SUITE_P(LookupConformance);

using storage::LookupKind;

TYPED_TEST_P(LookupConformance, TheFirstOwnerOfAKeyStays) {
  EXPECT_EQ(errc(this->find(LookupKind::email, "ada@example.com")), "not_found");
  EXPECT_EQ(*this->put(LookupKind::email, "ada@example.com", 7), 7);
  EXPECT_EQ(*this->put(LookupKind::email, "ada@example.com", 8), 7);  // taken: the first owner
  EXPECT_EQ(*this->find(LookupKind::email, "ada@example.com"), 7);
  // Kinds are separate: the same key of another kind is another row.
  EXPECT_EQ(*this->put(LookupKind::idempotency_key, "ada@example.com", 9), 9);
  EXPECT_EQ(*this->find(LookupKind::email, "ada@example.com"), 7);
}

TYPED_TEST_P(LookupConformance, ReplaceTakesOverOnlyFromThePreviousOwner) {
  ASSERT_EQ(*this->put(LookupKind::photo, "123", 7), 7);
  auto& l = *this->lookups_;
  EXPECT_EQ(errc(run_sync(l.replace_lookup(LookupKind::photo, "123", 8, 9))),
            "precondition_failed");
  EXPECT_EQ(*this->find(LookupKind::photo, "123"), 7);
  EXPECT_EQ(outcome(run_sync(l.replace_lookup(LookupKind::photo, "123", 7, 9))), "ok");
  EXPECT_EQ(*this->find(LookupKind::photo, "123"), 9);
  EXPECT_EQ(errc(run_sync(l.replace_lookup(LookupKind::photo, "404", 7, 9))),
            "precondition_failed");
}

TYPED_TEST_P(LookupConformance, EraseRemovesOnlyTheOwnersRow) {
  ASSERT_EQ(*this->put(LookupKind::job, "55", 7), 7);
  auto& l = *this->lookups_;
  EXPECT_EQ(outcome(run_sync(l.erase_lookup(LookupKind::job, "55", 8))), "ok");  // not its owner
  EXPECT_EQ(*this->find(LookupKind::job, "55"), 7);
  EXPECT_EQ(outcome(run_sync(l.erase_lookup(LookupKind::job, "55", 7))), "ok");
  EXPECT_EQ(errc(this->find(LookupKind::job, "55")), "not_found");
  EXPECT_EQ(outcome(run_sync(l.erase_lookup(LookupKind::job, "55", 7))), "ok");  // gone: no error
  EXPECT_EQ(*this->put(LookupKind::job, "55", 8), 8);                            // free again
}

TYPED_TEST_P(LookupConformance, BadKeysAreInvalidArguments) {
  const std::string longest(storage::kMaxLookupKeyBytes, 'k');
  EXPECT_EQ(*this->put(LookupKind::email, longest, 1), 1);
  for (const std::string& bad : {std::string(), longest + "k", std::string("a\0b", 3)}) {
    EXPECT_EQ(errc(this->put(LookupKind::email, bad, 1)), "invalid_argument") << bad.size();
    EXPECT_EQ(errc(this->find(LookupKind::email, bad)), "invalid_argument") << bad.size();
  }
  EXPECT_EQ(errc(this->put(static_cast<LookupKind>(0), "k", 1)), "invalid_argument");
  EXPECT_EQ(errc(this->put(static_cast<LookupKind>(5), "k", 1)), "invalid_argument");
}

// Two servers taking one key at once: one owner, seen by both.
TYPED_TEST_P(LookupConformance, ConcurrentPutsOfOneKeyHaveOneOwner) {
  constexpr int kWriters = 8;
  std::vector<UserId> seen(kWriters);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i)
    threads.emplace_back([&, i] {
      auto r = this->put(LookupKind::email, "race@example.com", 100 + i);
      seen[static_cast<std::size_t>(i)] = r.ok() ? *r : -1;
      if (!r.ok()) ADD_FAILURE() << r.error().message;
    });
  for (auto& t : threads) t.join();
  const UserId owner = *this->find(LookupKind::email, "race@example.com");
  EXPECT_GE(owner, 100);
  EXPECT_LT(owner, 100 + kWriters);
  for (UserId s : seen) EXPECT_EQ(s, owner);
}

REGISTER_TYPED_TEST_SUITE_P(LookupConformance, TheFirstOwnerOfAKeyStays,
                            ReplaceTakesOverOnlyFromThePreviousOwner, EraseRemovesOnlyTheOwnersRow,
                            BadKeysAreInvalidArguments, ConcurrentPutsOfOneKeyHaveOneOwner);

}  // namespace ztm::test
