#pragma once
// The accounts part of the Store contract (create_account, find_account, set_role; store.h), as a
// typed suite beside StoreConformance. A backend's test instantiates both with one factory:
//
//   INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, AccountConformance, ::testing::Types<SqliteFactory>);

#include "tests/storage/store_conformance.h"

namespace ztm::test {

template <class Factory>
class AccountConformance : public StoreConformance<Factory> {
 protected:
  static storage::Account account(UserId id, std::string email, std::string role = "user") {
    return storage::Account{id, std::move(email), "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
                            std::move(role)};
  }
  Result<storage::StoredUser> sign_up(UserId id, const std::string& email) {
    return run_sync(this->store_->create_account(sample_user(id), account(id, email)));
  }
  Result<storage::Account> find(const std::string& email) {
    return run_sync(this->store_->find_account(email));
  }
};

TYPED_TEST_SUITE_P(AccountConformance);

TYPED_TEST_P(AccountConformance, CreateAccountStoresTheUserAndItsCredentials) {
  auto created = this->sign_up(7, "ada@example.com");
  ASSERT_EQ(outcome(created), "ok");
  EXPECT_EQ(created->version, 1);
  auto user = this->get(7);
  ASSERT_EQ(outcome(user), "ok");
  EXPECT_EQ(user->user, sample_user(7));
  auto found = this->find("ada@example.com");
  ASSERT_EQ(outcome(found), "ok");
  EXPECT_EQ(*found, this->account(7, "ada@example.com"));
  auto admin = run_sync(
      this->store_->create_account(sample_user(8), this->account(8, "root@example.com", "admin")));
  ASSERT_EQ(outcome(admin), "ok");
  EXPECT_EQ(this->find("root@example.com")->role, "admin");
}

TYPED_TEST_P(AccountConformance, FindMissingIsNotFound) {
  EXPECT_EQ(errc(this->find("nobody@example.com")), "not_found");
  ASSERT_EQ(outcome(this->sign_up(7, "ada@example.com")), "ok");
  EXPECT_EQ(errc(this->find("ADA@example.com")), "not_found");  // the caller normalizes
}

TYPED_TEST_P(AccountConformance, SetRoleChangesOnlyThatAccountsRole) {
  ASSERT_EQ(outcome(this->sign_up(7, "ada@example.com")), "ok");
  ASSERT_EQ(outcome(this->sign_up(8, "alan@example.com")), "ok");
  ASSERT_EQ(outcome(run_sync(this->store_->set_role(7, "admin"))), "ok");
  EXPECT_EQ(this->find("ada@example.com")->role, "admin");
  EXPECT_EQ(this->find("alan@example.com")->role, "user");
  ASSERT_EQ(outcome(run_sync(this->store_->set_role(7, "user"))), "ok");
  EXPECT_EQ(this->find("ada@example.com")->role, "user");
  ASSERT_EQ(outcome(run_sync(this->store_->set_role(7, "user"))), "ok");  // unchanged: still ok
  EXPECT_EQ(this->find("ada@example.com")->password_hash,
            this->account(7, "ada@example.com").password_hash);
}

TYPED_TEST_P(AccountConformance, SetRoleOfAUserWithoutAnAccountIsNotFound) {
  EXPECT_EQ(errc(run_sync(this->store_->set_role(99, "admin"))), "not_found");
  ASSERT_EQ(outcome(this->create(sample_user(7))), "ok");  // a user, no account
  EXPECT_EQ(errc(run_sync(this->store_->set_role(7, "admin"))), "not_found");
}

TYPED_TEST_P(AccountConformance, ATakenEmailIsConflictAndCreatesNoUser) {
  ASSERT_EQ(outcome(this->sign_up(7, "ada@example.com")), "ok");
  auto again = this->sign_up(8, "ada@example.com");
  EXPECT_EQ(errc(again), "conflict");
  if (!again.ok()) {
    EXPECT_NE(again.error().message.find("email"), std::string::npos);
  }
  EXPECT_EQ(errc(this->get(8)), "not_found");
  EXPECT_EQ(this->find("ada@example.com")->user_id, 7);
}

TYPED_TEST_P(AccountConformance, AnExistingUserIdIsConflictAndCreatesNoAccount) {
  ASSERT_EQ(outcome(this->create(sample_user(7, "first"))), "ok");
  EXPECT_EQ(errc(this->sign_up(7, "ada@example.com")), "conflict");
  EXPECT_EQ(errc(this->find("ada@example.com")), "not_found");
  EXPECT_EQ(this->get(7)->user, sample_user(7, "first"));
}

TYPED_TEST_P(AccountConformance, DeletingTheUserDeletesItsAccount) {
  ASSERT_EQ(outcome(this->sign_up(7, "ada@example.com")), "ok");
  ASSERT_EQ(outcome(this->remove(7)), "ok");
  EXPECT_EQ(errc(this->find("ada@example.com")), "not_found");
  EXPECT_EQ(outcome(this->sign_up(9, "ada@example.com")), "ok");  // the email is free again
}

TYPED_TEST_P(AccountConformance, ConcurrentSignUpsWithOneEmailHaveOneWinner) {
  constexpr int kRacers = 8;
  auto results = this->template race<Result<storage::StoredUser>>(
      kRacers, [this](int i) { return this->sign_up(100 + i, "race@example.com"); });
  int ok = 0;
  for (const auto& r : results) {
    if (r->ok())
      ++ok;
    else
      EXPECT_EQ(errc(*r), "conflict");
  }
  EXPECT_EQ(ok, 1);
  auto found = this->find("race@example.com");
  ASSERT_EQ(outcome(found), "ok");
  EXPECT_EQ(outcome(this->get(found->user_id)), "ok");
  EXPECT_EQ(*this->count(), 1);
}

REGISTER_TYPED_TEST_SUITE_P(AccountConformance, CreateAccountStoresTheUserAndItsCredentials,
                            FindMissingIsNotFound, SetRoleChangesOnlyThatAccountsRole,
                            SetRoleOfAUserWithoutAnAccountIsNotFound,
                            ATakenEmailIsConflictAndCreatesNoUser,
                            AnExistingUserIdIsConflictAndCreatesNoAccount,
                            DeletingTheUserDeletesItsAccount,
                            ConcurrentSignUpsWithOneEmailHaveOneWinner);

}  // namespace ztm::test
