#include "sessions/redis/redis_session_store.h"

#include <fmt/format.h>

#include <charconv>

#include "sessions/session_key.h"

namespace ztm::sessions {
namespace {

using boost::asio::awaitable;
using std::chrono::milliseconds;

// KEYS[1] session, KEYS[2] user set; ARGV[1] value, ARGV[2] ttl ms, ARGV[3] the key (set member),
// ARGV[4] the session-key prefix. 0 when the key exists. The set's members whose sessions have
// expired are dropped here, so a user's set stays as small as their live sessions.
constexpr const char* kCreate = R"lua(
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[4] .. m) == 0 then redis.call('SREM', KEYS[2], m) end
end
redis.call('SADD', KEYS[2], ARGV[3])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1)lua";

// KEYS[1] session; ARGV[1] ttl ms, ARGV[2] rewrite threshold ms, ARGV[3] the user-set prefix.
// The value, or nil. The expiry (and the user set's, which must outlive the session) is
// rewritten only when it is stale by the threshold or more.
constexpr const char* kTouch = R"lua(
local v = redis.call('GET', KEYS[1])
if not v then return false end
local ttl = tonumber(ARGV[1])
if ttl - redis.call('PTTL', KEYS[1]) >= tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ttl)
  local set = ARGV[3] .. string.match(v, '^(%d+):')
  if redis.call('PTTL', set) < ttl then redis.call('PEXPIRE', set, ttl) end
end
return v)lua";

// KEYS[1] session; ARGV[1] the user-set prefix, ARGV[2] the key.
constexpr const char* kRevoke = R"lua(
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', ARGV[1] .. string.match(v, '^(%d+):'), ARGV[2])
return 1)lua";

// KEYS[1] user set; ARGV[1] the session-key prefix.
constexpr const char* kRevokeUser = R"lua(
local members = redis.call('SMEMBERS', KEYS[1])
for _, m in ipairs(members) do redis.call('DEL', ARGV[1] .. m) end
redis.call('DEL', KEYS[1])
return #members)lua";

// KEYS[1] counter; ARGV[1] window ms. {hits, ms left}. The first hit sets the expiry in the same
// script as the increment; a counter found without one (cannot happen) gets one.
// The sliding-window counter of session_store.h in a hash {h: this window's hits, p: the
// previous window's, e: this window's end, Unix ms on Redis's clock}, kept until the window
// after this one ends. ARGV[1]: the window (ms).
constexpr const char* kHit = R"lua(
local w = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 'h', 'p', 'e')
local h, p, e = tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0
if now >= e + w then h, p, e = 0, 0, now + w
elseif now >= e then h, p, e = 0, h, e + w end
h = h + 1
redis.call('HSET', KEYS[1], 'h', h, 'p', p, 'e', e)
redis.call('PEXPIRE', KEYS[1], e + w - now)
return {h + math.floor(p * (e - now) / w), e - now})lua";

// "<user_id>:<role>" -> SessionData.
Result<SessionData> parse_value(const std::string& v) {
  const auto colon = v.find(':');
  UserId user = 0;
  auto [end, ec] =
      std::from_chars(v.data(), v.data() + (colon == std::string::npos ? 0 : colon), user);
  if (colon == std::string::npos || ec != std::errc{} || end != v.data() + colon)
    return Error{Errc::internal, "redis session: malformed value"};
  return SessionData{user, v.substr(colon + 1)};
}

}  // namespace

RedisSessionStore::RedisSessionStore(std::shared_ptr<redis::CommandRunner> redis,
                                     RedisSessionOptions options)
    : redis_(std::move(redis)), options_(std::move(options)) {}

awaitable<Result<redis::Reply>> RedisSessionStore::send(std::vector<std::string>& args,
                                                        const char* what) {
  return redis::command_checked(*redis_, args, what);
}

// Every call builds its argv as a named local and passes it by reference: no class-type
// temporary inside a co_await (GCC 12, see storage/store.h).
awaitable<Result<void>> RedisSessionStore::create(std::string key, SessionData data,
                                                  milliseconds ttl) {
  if (auto k = check_session_key(key); !k.ok()) co_return k;
  if (auto t = check_duration(ttl, "session ttl"); !t.ok()) co_return t;
  const std::string& p = options_.prefix;
  std::vector<std::string> args{"EVAL",
                                kCreate,
                                "2",
                                p + "s:" + key,
                                p + "u:" + std::to_string(data.user_id),
                                fmt::format("{}:{}", data.user_id, data.role),
                                std::to_string(ttl.count()),
                                key,
                                p + "s:"};
  auto reply = co_await send(args, "create");
  if (!reply.ok()) co_return std::move(reply).error();
  if (reply->as_int() != 1) co_return Error{Errc::conflict, "session: the key exists"};
  co_return Result<void>{};
}

awaitable<Result<SessionData>> RedisSessionStore::touch(std::string key, milliseconds ttl) {
  if (auto k = check_session_key(key); !k.ok()) co_return std::move(k).error();
  if (auto t = check_duration(ttl, "session ttl"); !t.ok()) co_return std::move(t).error();
  const std::string& p = options_.prefix;
  std::vector<std::string> args{"EVAL",
                                kTouch,
                                "1",
                                p + "s:" + key,
                                std::to_string(ttl.count()),
                                std::to_string(touch_rewrite_threshold(ttl).count()),
                                p + "u:"};
  auto reply = co_await send(args, "touch");
  if (!reply.ok()) co_return std::move(reply).error();
  if (reply->is_nil()) co_return Error{Errc::not_found, "session: not found or expired"};
  co_return parse_value(reply->str);
}

awaitable<Result<void>> RedisSessionStore::revoke(std::string key) {
  if (auto k = check_session_key(key); !k.ok()) co_return k;
  const std::string& p = options_.prefix;
  std::vector<std::string> args{"EVAL", kRevoke, "1", p + "s:" + key, p + "u:", key};
  auto reply = co_await send(args, "revoke");
  if (!reply.ok()) co_return std::move(reply).error();
  co_return Result<void>{};
}

awaitable<Result<void>> RedisSessionStore::revoke_user(UserId user) {
  const std::string& p = options_.prefix;
  std::vector<std::string> args{"EVAL", kRevokeUser, "1", p + "u:" + std::to_string(user),
                                p + "s:"};
  auto reply = co_await send(args, "revoke_user");
  if (!reply.ok()) co_return std::move(reply).error();
  co_return Result<void>{};
}

awaitable<Result<RateCount>> RedisSessionStore::hit(std::string key, milliseconds window) {
  if (auto k = check_session_key(key); !k.ok()) co_return std::move(k).error();
  if (auto w = check_duration(window, "rate window"); !w.ok()) co_return std::move(w).error();
  std::vector<std::string> args{"EVAL", kHit, "1", options_.prefix + "rw:" + key,
                                std::to_string(window.count())};
  auto reply = co_await send(args, "hit");
  if (!reply.ok()) co_return std::move(reply).error();
  if (!reply->is_array() || reply->elements.size() != 2 || !reply->elements[0].as_int() ||
      !reply->elements[1].as_int())
    co_return Error{Errc::internal, "redis hit: unexpected reply " + redis::describe(*reply)};
  co_return RateCount{*reply->elements[0].as_int(), milliseconds(*reply->elements[1].as_int())};
}

awaitable<Result<void>> RedisSessionStore::ping() {
  std::vector<std::string> args{"PING"};
  auto reply = co_await send(args, "ping");
  if (!reply.ok()) co_return std::move(reply).error();
  co_return Result<void>{};
}

}  // namespace ztm::sessions
