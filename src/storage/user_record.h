#pragma once
// A user as the data tier stores it: the chapter's user object (GET /users/12) plus the
// version that optimistic concurrency (ETag / If-Match) compares.

#include <cstdint>
#include <string>
#include <vector>

#include "core/ids.h"

namespace ztm::storage {

struct Address {
  std::string street_address;
  std::string city;
  std::string state;
  std::int64_t postal_code = 0;
  bool operator==(const Address&) const = default;
};

struct User {
  UserId id = 0;
  std::string first_name;
  std::string last_name;
  Address address;
  std::vector<std::string> phone_numbers;
  bool operator==(const User&) const = default;
};

struct StoredUser {
  User user;
  std::int64_t version = 0;  // 1 on create, +1 on every update
  // Set by writes: where this version committed (see store.h, read-your-writes). Not part of the
  // value: two StoredUsers are equal when user and version are.
  std::string position;
  bool operator==(const StoredUser& o) const { return user == o.user && version == o.version; }
};

// The credentials of a user who signed up (POST /accounts). Deleting the user deletes them.
struct Account {
  UserId user_id = 0;
  std::string email;          // normalized (trimmed, lower-case) by the caller; unique
  std::string password_hash;  // Argon2id in libsodium's crypto_pwhash_str format
  std::string role;           // "user" | "admin"
  bool operator==(const Account&) const = default;
};

struct UserPage {
  std::vector<StoredUser> users;  // ascending by id
  bool more = false;              // users with a larger id exist beyond this page
};

}  // namespace ztm::storage
