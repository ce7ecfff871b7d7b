#include "app/user_json.h"

#include <fmt/format.h>

#include <boost/json/serialize.hpp>

namespace ztm::app {

using storage::Address;
using storage::User;

namespace json = boost::json;
namespace {

Error invalid(std::string_view field, std::string_view what) {
  return Error{Errc::invalid_argument, fmt::format("{}: {}", field, what)};
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
  return n;
}

// A required (or, with `optional`, possibly absent) string of 1..max characters without
// control characters.
Result<std::string> text(const json::object& obj, std::string_view parent, std::string_view key,
                         std::size_t max) {
  const std::string field = parent.empty() ? std::string(key) : fmt::format("{}.{}", parent, key);
  const auto* v = obj.if_contains(key);
  if (!v) return invalid(field, "is required");
  if (!v->is_string()) return invalid(field, "must be a string");
  const std::string_view s = v->get_string();
  const auto len = utf8_length(s);
  if (len == 0) return invalid(field, "must not be empty");
  if (len > max) return invalid(field, fmt::format("must be at most {} characters", max));
  for (unsigned char ch : s)
    if (ch < 0x20 || ch == 0x7F) return invalid(field, "must not contain control characters");
  return std::string(s);
}

std::optional<Error> only_known(const json::object& obj, std::string_view parent,
                                std::initializer_list<std::string_view> known) {
  for (const auto& kv : obj) {
    bool ok = false;
    for (auto k : known) ok = ok || kv.key() == k;
    if (!ok) {
      const std::string field = parent.empty()
                                    ? std::string(kv.key())
                                    : fmt::format("{}.{}", parent, std::string_view(kv.key()));
      return invalid(field, "is not a known field");
    }
  }
  return std::nullopt;
}

Result<std::int64_t> integer(const json::value& v, std::string_view field) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(kMaxSafeInteger))
    return static_cast<std::int64_t>(v.get_uint64());
  return invalid(field, "must be an integer");
}

Result<Address> address_from(const json::value* v) {
  if (!v) return invalid("address", "is required");
  if (!v->is_object()) return invalid("address", "must be an object");
  const auto& obj = v->get_object();
  if (auto e = only_known(obj, "address", {"streetAddress", "city", "state", "postalCode"}))
    return *std::move(e);
  Address a;
  auto street = text(obj, "address", "streetAddress", UserLimits::kMaxStreet);
  if (!street) return std::move(street).error();
  auto city = text(obj, "address", "city", UserLimits::kMaxCity);
  if (!city) return std::move(city).error();
  auto state = text(obj, "address", "state", UserLimits::kMaxState);
  if (!state) return std::move(state).error();
  const auto* pc = obj.if_contains("postalCode");
  if (!pc) return invalid("address.postalCode", "is required");
  auto code = integer(*pc, "address.postalCode");
  if (!code) return std::move(code).error();
  if (*code < 0 || *code > UserLimits::kMaxPostalCode)
    return invalid("address.postalCode",
                   fmt::format("must be between 0 and {}", UserLimits::kMaxPostalCode));
  a.street_address = std::move(*street);
  a.city = std::move(*city);
  a.state = std::move(*state);
  a.postal_code = *code;
  return a;
}

Result<std::vector<std::string>> phones_from(const json::value* v) {
  std::vector<std::string> out;
  if (!v) return out;
  if (!v->is_array()) return invalid("phoneNumbers", "must be an array of strings");
  const auto& arr = v->get_array();
  if (arr.size() > UserLimits::kMaxPhones)
    return invalid("phoneNumbers",
                   fmt::format("must have at most {} entries", UserLimits::kMaxPhones));
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const std::string field = fmt::format("phoneNumbers[{}]", i);
    if (!arr[i].is_string()) return invalid(field, "must be a string");
    const std::string_view s = arr[i].get_string();
    if (s.empty() || s.size() > UserLimits::kMaxPhone)
      return invalid(field, fmt::format("must be 1 to {} characters", UserLimits::kMaxPhone));
    bool digit = false;
    for (char ch : s) {
      if (ch >= '0' && ch <= '9')
        digit = true;
      else if (std::string_view(" +-().x").find(ch) == std::string_view::npos)
        return invalid(field, "may contain only digits, spaces and + - ( ) . x");
    }
    if (!digit) return invalid(field, "must contain a digit");
    out.emplace_back(s);
  }
  return out;
}

}  // namespace

Result<User> user_from_json(const json::value& doc, std::optional<UserId> path_id) {
  if (!doc.is_object()) return invalid("body", "must be a JSON object");
  const auto& obj = doc.get_object();
  if (auto e = only_known(
          obj, "",
          {"id", "firstName", "lastName", "address", "phoneNumbers", "followers", "following"}))
    return *std::move(e);
  User u;
  if (const auto* id = obj.if_contains("id")) {
    if (!path_id) return invalid("id", "is assigned by the server and must not be sent");
    auto v = integer(*id, "id");
    if (!v) return std::move(v).error();
    if (*v != *path_id) return invalid("id", "does not match the id in the URL");
  }
  for (std::string_view count : {"followers", "following"}) {
    const auto* v = obj.if_contains(count);
    if (!v) continue;
    if (!path_id) return invalid(count, "is counted by the server and must not be sent");
    auto n = integer(*v, count);
    if (!n) return std::move(n).error();
    if (*n < 0) return invalid(count, "must not be negative");
  }
  if (path_id) u.id = *path_id;
  auto first = text(obj, "", "firstName", UserLimits::kMaxName);
  if (!first) return std::move(first).error();
  auto last = text(obj, "", "lastName", UserLimits::kMaxName);
  if (!last) return std::move(last).error();
  auto address = address_from(obj.if_contains("address"));
  if (!address) return std::move(address).error();
  auto phones = phones_from(obj.if_contains("phoneNumbers"));
  if (!phones) return std::move(phones).error();
  u.first_name = std::move(*first);
  u.last_name = std::move(*last);
  u.address = std::move(*address);
  u.phone_numbers = std::move(*phones);
  return u;
}

json::object user_to_json(const User& u) {
  json::array phones;
  phones.reserve(u.phone_numbers.size());
  for (const auto& p : u.phone_numbers) phones.emplace_back(p);
  return json::object{
      {"id", u.id},
      {"firstName", u.first_name},
      {"lastName", u.last_name},
      {"address",
       {{"streetAddress", u.address.street_address},
        {"city", u.address.city},
        {"state", u.address.state},
        {"postalCode", u.address.postal_code}}},
      {"phoneNumbers", std::move(phones)},
  };
}

std::string serialize_user(const User& user) {
  return json::serialize(user_to_json(user));
}

std::string serialize_user_document(const User& user, const storage::FollowCounts& counts) {
  auto doc = user_to_json(user);
  doc.emplace("followers", counts.followers);
  doc.emplace("following", counts.following);
  return json::serialize(doc);
}

void merge_patch(json::value& target, const json::value& patch) {
  if (!patch.is_object()) {
    target = patch;
    return;
  }
  if (!target.is_object()) target = json::object{};
  auto& obj = target.get_object();
  for (const auto& kv : patch.get_object()) {
    if (kv.value().is_null()) {
      obj.erase(kv.key());
    } else {
      merge_patch(obj[kv.key()], kv.value());
    }
  }
}

}  // namespace ztm::app
