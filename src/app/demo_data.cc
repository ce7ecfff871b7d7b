#include "app/demo_data.h"

#include <array>

namespace ztm::app {

using storage::Account;
using storage::Store;
using storage::User;

namespace {

boost::asio::awaitable<Result<void>> add_account(Store& store, const PasswordHasher& hasher,
                                                 User user, const char* email, const char* password,
                                                 const char* role) {
  auto hash = hasher.hash_now(password);
  if (!hash) co_return std::move(hash).error();
  Account account{user.id, email, std::move(*hash), role};
  auto created = co_await store.create_account(std::move(user), std::move(account));
  if (!created) co_return std::move(created).error();
  co_return Result<void>{};
}

}  // namespace

boost::asio::awaitable<Result<int>> load_demo_data(Store& store, const PasswordHasher& hasher) {
  auto count = co_await store.count_users();
  if (!count) co_return std::move(count).error();
  if (*count > 0) co_return 0;

  // Exactly the chapter's example, with an account.
  User john{12,
            "John",
            "Smith",
            {"21 2nd Street", "New York", "NY", 10021},
            {"212 555-1234", "646 555-4567"}};
  if (auto r = co_await add_account(store, hasher, std::move(john), kDemoUserEmail,
                                    kDemoUserPassword, "user");
      !r)
    co_return std::move(r).error();
  User admin{22, "Demo", "Admin", {"1 Admin Way", "New York", "NY", 10001}, {}};
  if (auto r = co_await add_account(store, hasher, std::move(admin), kDemoAdminEmail,
                                    kDemoAdminPassword, "admin");
      !r)
    co_return std::move(r).error();
  std::vector<User> users;
  static constexpr std::array<std::array<const char*, 2>, 10> kNames = {{
      {"Ada", "Lovelace"},
      {"Alan", "Turing"},
      {"Grace", "Hopper"},
      {"Edsger", "Dijkstra"},
      {"Barbara", "Liskov"},
      {"Donald", "Knuth"},
      {"Frances", "Allen"},
      {"Ken", "Thompson"},
      {"Margaret", "Hamilton"},
      {"Leslie", "Lamport"},
  }};
  static constexpr std::array<std::array<const char*, 2>, 5> kCities = {{
      {"San Francisco", "CA"},
      {"Seattle", "WA"},
      {"Austin", "TX"},
      {"Boston", "MA"},
      {"Chicago", "IL"},
  }};
  for (int i = 0; i < 20; ++i) {
    const UserId id = i < 11 ? i + 1 : i + 2;  // 1..11 and 13..21 around John Smith's 12
    const auto& name = kNames[static_cast<std::size_t>(i) % kNames.size()];
    const auto& city = kCities[static_cast<std::size_t>(i) % kCities.size()];
    users.push_back(
        User{id,
             name[0],
             name[1],
             {std::to_string(100 + i) + " Main Street", city[0], city[1], 10000 + i * 37},
             {"555 010-" + std::to_string(1000 + i)}});
  }
  int loaded = 2;
  for (auto& u : users) {
    auto created = co_await store.create_user(std::move(u));
    if (!created) co_return std::move(created).error();
    ++loaded;
  }
  co_return loaded;
}

}  // namespace ztm::app
