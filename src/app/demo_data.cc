#include "app/demo_data.h"

#include <array>

namespace ztm {

boost::asio::awaitable<Result<int>> load_demo_data(Store& store) {
  auto count = co_await store.count_users();
  if (!count) co_return std::move(count).error();
  if (*count > 0) co_return 0;

  std::vector<User> users;
  // Exactly the chapter's example.
  users.push_back(User{12, "John", "Smith", {"21 2nd Street", "New York", "NY", 10021},
                       {"212 555-1234", "646 555-4567"}});
  static constexpr std::array<std::array<const char*, 2>, 10> kNames = {{
      {"Ada", "Lovelace"}, {"Alan", "Turing"}, {"Grace", "Hopper"}, {"Edsger", "Dijkstra"},
      {"Barbara", "Liskov"}, {"Donald", "Knuth"}, {"Frances", "Allen"}, {"Ken", "Thompson"},
      {"Margaret", "Hamilton"}, {"Leslie", "Lamport"},
  }};
  static constexpr std::array<std::array<const char*, 2>, 5> kCities = {{
      {"San Francisco", "CA"}, {"Seattle", "WA"}, {"Austin", "TX"}, {"Boston", "MA"}, {"Chicago", "IL"},
  }};
  for (int i = 0; i < 20; ++i) {
    const UserId id = i < 11 ? i + 1 : i + 2;  // 1..11 and 13..21 around John Smith's 12
    const auto& name = kNames[static_cast<std::size_t>(i) % kNames.size()];
    const auto& city = kCities[static_cast<std::size_t>(i) % kCities.size()];
    users.push_back(User{id, name[0], name[1],
                         {std::to_string(100 + i) + " Main Street", city[0], city[1], 10000 + i * 37},
                         {"555 010-" + std::to_string(1000 + i)}});
  }
  int loaded = 0;
  for (auto& u : users) {
    auto created = co_await store.create_user(std::move(u));
    if (!created) co_return std::move(created).error();
    ++loaded;
  }
  co_return loaded;
}

}  // namespace ztm
