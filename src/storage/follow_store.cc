#include "storage/follow_store.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "core/mix64.h"

namespace ztm::storage {
namespace {

Result<void> check_name(const std::string& name) {
  if (name.size() > kMaxFollowNameBytes)
    return Error{Errc::invalid_argument,
                 fmt::format("follow: a name has at most {} bytes", kMaxFollowNameBytes)};
  if (name.find('\0') != std::string::npos)  // PostgreSQL's text cannot hold one
    return Error{Errc::invalid_argument, "follow: a name has no NUL byte"};
  return {};
}

}  // namespace

Result<void> check_follow(UserId follower, UserId followee, const std::string& follower_name,
                          const std::string& followee_name) {
  if (follower <= 0 || followee <= 0)
    return Error{Errc::invalid_argument, "follow: user ids are positive"};
  if (follower == followee) return Error{Errc::invalid_argument, "follow: not oneself"};
  if (auto r = check_name(follower_name); !r.ok()) return r;
  return check_name(followee_name);
}

Result<void> check_follow_limit(int limit) {
  if (limit < 1 || limit > 1000)
    return Error{Errc::invalid_argument, fmt::format("limit {} is not in 1..1000", limit)};
  return {};
}

int follower_count_slot(UserId follower) {
  return static_cast<int>(mix64(static_cast<std::uint64_t>(follower)) % kFollowerCountSlots);
}

std::string follow_payload(const FollowChange& change) {
  boost::json::object o;
  o["op"] = change.op == FollowChange::Op::add ? "add" : "remove";
  o["follower"] = change.follower;
  o["followee"] = change.followee;
  o["version"] = change.version;
  if (change.op == FollowChange::Op::add) o["follower_name"] = change.follower_name;
  return boost::json::serialize(o);
}

Result<FollowChange> parse_follow_payload(const std::string& payload) {
  const Error bad{Errc::invalid_argument, "follow: not a follow message"};
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(payload, ec);
  if (ec || !v.is_object()) return bad;
  const auto& o = v.get_object();
  const auto* op = o.if_contains("op");
  const auto* follower = o.if_contains("follower");
  const auto* followee = o.if_contains("followee");
  const auto* version = o.if_contains("version");
  if (!op || !op->is_string() || !follower || !follower->is_int64() || !followee ||
      !followee->is_int64() || !version || !version->is_int64() || version->get_int64() < 1)
    return bad;
  FollowChange c;
  c.follower = follower->get_int64();
  c.followee = followee->get_int64();
  c.version = version->get_int64();
  if (op->get_string() == "add") {
    const auto* name = o.if_contains("follower_name");
    if (!name || !name->is_string()) return bad;
    c.follower_name = std::string(name->get_string());
  } else if (op->get_string() == "remove") {
    c.op = FollowChange::Op::remove;
  } else {
    return bad;
  }
  if (auto r = check_follow(c.follower, c.followee, c.follower_name); !r.ok())
    return std::move(r).error();
  return c;
}

}  // namespace ztm::storage
