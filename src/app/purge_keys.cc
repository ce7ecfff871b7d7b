#include "app/purge_keys.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace ztm::app {

std::string user_key(UserId id) {
  return "user-" + std::to_string(id);
}
std::string owner_key(UserId id) {
  return "owner-" + std::to_string(id);
}
std::string photo_key(std::int64_t photo_id) {
  return "photo-" + std::to_string(photo_id);
}
std::string followers_key(UserId id) {
  return "followers-" + std::to_string(id);
}
std::string following_key(UserId id) {
  return "following-" + std::to_string(id);
}
std::string url_key(std::string_view path) {
  return "url:" + std::string(path);
}

Result<std::vector<std::string>> keys_for_change(std::string_view payload) {
  const Error bad{Errc::invalid_argument,
                  "not a change message: " + std::string(payload.substr(0, 200))};
  boost::system::error_code ec;
  const auto value = boost::json::parse(payload, ec);
  const auto* change = value.if_object();
  if (ec || !change) return bad;
  const auto* op = change->if_contains("op");
  const auto* user = change->if_contains("user");
  const auto* photo = change->if_contains("photo");
  const auto* owner = change->if_contains("owner");
  if (!op || !op->is_string()) return bad;
  if (user && user->is_int64()) {
    const UserId id = user->as_int64();
    if (*op == "insert") return std::vector<std::string>{std::string(kUsersListKey), user_key(id)};
    if (*op == "update") return std::vector<std::string>{user_key(id)};
    if (*op == "delete")
      return std::vector<std::string>{user_key(id), std::string(kUsersListKey), owner_key(id)};
  } else if (photo && photo->is_int64() && owner && owner->is_int64()) {
    if (*op == "insert") return std::vector<std::string>{owner_key(owner->as_int64())};
    if (*op == "delete") {
      std::vector<std::string> keys{photo_key(photo->as_int64()), owner_key(owner->as_int64())};
      const auto* blob = change->if_contains("blob");
      if (blob && blob->is_string())
        keys.push_back(url_key("/media/" + std::string(blob->as_string())));
      return keys;
    }
  }
  return bad;
}

std::vector<std::string> keys_for_follow(UserId follower, UserId followee) {
  return {user_key(follower), user_key(followee), followers_key(followee), following_key(follower)};
}

std::vector<std::string> purge_messages(const std::vector<std::string>& keys,
                                        std::size_t max_bytes) {
  std::vector<std::string> out;
  boost::json::array list;
  std::size_t bytes = 0;
  auto flush = [&] {
    if (list.empty()) return;
    out.push_back(boost::json::serialize(boost::json::object{{"keys", std::move(list)}}));
    list = {};
    bytes = 0;
  };
  constexpr std::size_t kFrame = sizeof(R"({"keys":[]})");
  for (const auto& k : keys) {
    const std::size_t size = boost::json::serialize(boost::json::value(k)).size() + 1;
    if (bytes && kFrame + bytes + size > max_bytes) flush();
    list.emplace_back(k);
    bytes += size;
  }
  flush();
  return out;
}

}  // namespace ztm::app
