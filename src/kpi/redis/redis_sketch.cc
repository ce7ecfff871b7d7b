#include "kpi/redis/redis_sketch.h"

#include <algorithm>

namespace ztm::kpi {

using boost::asio::awaitable;

RedisActiveUserSketch::RedisActiveUserSketch(std::shared_ptr<redis::CommandRunner> redis,
                                             RedisSketchOptions options)
    : redis_(std::move(redis)), options_(std::move(options)) {}

std::string RedisActiveUserSketch::key(UtcDay day) const {
  return options_.prefix + "dau:" + iso_date(day);
}

// PFADD and EXPIRE in one script, so that the key never exists without its expiry (two commands
// would leave one if the process died between them). ARGV[1] is the TTL, the rest the users.
constexpr const char* kAddAndExpire = R"(
redis.call('PFADD', KEYS[1], unpack(ARGV, 2))
return redis.call('EXPIRE', KEYS[1], ARGV[1])
)";

awaitable<Result<void>> RedisActiveUserSketch::add(UtcDay day, std::vector<UserId> users) {
  if (users.empty()) co_return Result<void>{};
  const std::string k = key(day);
  // Lua's unpack() takes at most ~8,000 values: larger batches are cut to kMaxValuesPerScript.
  const auto batch =
      static_cast<std::size_t>(std::clamp(options_.max_values_per_command, 1, kMaxValuesPerScript));
  // Kept for the longest window and some slack after its last write (a day's writes end with
  // the day, so this is about kRetainedDays after the day).
  const std::string ttl = std::to_string(kRetainedDays * 86'400);
  for (std::size_t at = 0; at < users.size(); at += batch) {
    std::vector<std::string> args{"EVAL", kAddAndExpire, "1", k, ttl};
    for (std::size_t i = at; i < std::min(users.size(), at + batch); ++i)
      args.push_back(std::to_string(users[i]));
    if (auto r = co_await redis::command_checked(*redis_, args, "PFADD and EXPIRE"); !r.ok())
      co_return std::move(r).error();
  }
  co_return Result<void>{};
}

awaitable<Result<std::int64_t>> RedisActiveUserSketch::count(UtcDay first, UtcDay last) {
  if (first > last || last - first >= kRetainedDays)
    co_return Error{Errc::invalid_argument, "sketch: first..last must be 1..35 days"};
  std::vector<std::string> args{"PFCOUNT"};
  for (UtcDay d = first; d <= last; ++d) args.push_back(key(d));
  auto r = co_await redis::command_checked(*redis_, args, "PFCOUNT");
  if (!r.ok()) co_return std::move(r).error();
  const auto n = r->as_int();
  if (!n) co_return Error{Errc::internal, "redis: PFCOUNT returned " + redis::describe(*r)};
  co_return *n;
}

}  // namespace ztm::kpi
