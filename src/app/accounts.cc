#include "app/accounts.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <charconv>
#include <optional>

#include "app/activity.h"
#include "app/common_passwords.h"

namespace ztm::app {

using sessions::SessionData;
using sessions::SessionStore;
using storage::Account;
using storage::Store;
using storage::User;

namespace {

using boost::asio::awaitable;

std::string hex(const unsigned char* data, std::size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), data, n);
  out.pop_back();
  return out;
}

// BLAKE2b of `text`, in hex: what the session store sees instead of tokens and emails.
std::string digest(std::string_view text, std::size_t bytes) {
  std::array<unsigned char, crypto_generichash_BYTES_MAX> out{};
  crypto_generichash(out.data(), bytes, reinterpret_cast<const unsigned char*>(text.data()),
                     text.size(), nullptr, 0);
  return hex(out.data(), bytes);
}

std::string session_key(std::string_view token) {
  return "s:" + digest(token, 32);
}

// The Unix second a well-formed token was issued (AccountLimits), or nullopt.
std::optional<std::int64_t> token_issued_s(std::string_view token) {
  constexpr std::size_t n = AccountLimits::kTokenRandomChars;
  if (token.size() < n + 2 || token.size() > AccountLimits::kMaxTokenChars || token[n] != '.')
    return std::nullopt;
  const std::string_view random = token.substr(0, n);
  if (!std::all_of(random.begin(), random.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
      }))
    return std::nullopt;
  const std::string_view issued = token.substr(n + 1);
  std::int64_t s = 0;
  const auto [end, ec] = std::from_chars(issued.data(), issued.data() + issued.size(), s);
  if (ec != std::errc() || end != issued.data() + issued.size() || s < 0) return std::nullopt;
  return s;
}

Result<void> check_password_length(std::string_view password, std::size_t min) {
  if (password.size() < min)
    return Error{
        Errc::invalid_argument,
        min <= 1 ? "password: required" : "password: at least " + std::to_string(min) + " bytes"};
  if (password.size() > AccountLimits::kMaxPassword)
    return Error{Errc::invalid_argument,
                 "password: at most " + std::to_string(AccountLimits::kMaxPassword) + " bytes"};
  return {};
}

}  // namespace

std::string address_bucket(const std::string& client) {
  boost::system::error_code ec;
  const auto a = boost::asio::ip::make_address(client, ec);
  if (ec || !a.is_v6() || a.to_v6().is_v4_mapped()) return client;
  auto bytes = a.to_v6().to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

bool common_password(std::string_view password) {
  return std::any_of(kCommonPasswords.begin(), kCommonPasswords.end(), [&](std::string_view c) {
    return c.size() == password.size() &&
           std::equal(c.begin(), c.end(), password.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) ==
                    std::tolower(static_cast<unsigned char>(b));
           });
  });
}

namespace {

const Error kWrongCredentials{Errc::unauthenticated, "email or password is wrong"};

}  // namespace

Result<std::string> normalize_email(std::string_view email) {
  while (!email.empty() && email.front() == ' ') email.remove_prefix(1);
  while (!email.empty() && email.back() == ' ') email.remove_suffix(1);
  const Error bad{Errc::invalid_argument, "email: must be an address like name@example.com"};
  if (email.size() > AccountLimits::kMaxEmail)
    return Error{Errc::invalid_argument,
                 "email: at most " + std::to_string(AccountLimits::kMaxEmail) + " bytes"};
  const auto at = email.find('@');
  if (at == 0 || at == std::string_view::npos || at + 1 == email.size() ||
      email.find('@', at + 1) != std::string_view::npos)
    return bad;
  std::string out;
  out.reserve(email.size());
  for (char c : email) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= ' ' || u == 0x7f) return bad;
    out += static_cast<char>(std::tolower(u));
  }
  return out;
}

AccountService::AccountService(Store& store, SessionStore& sessions, PasswordHasher& hasher,
                               IdGenerator& ids, AccountOptions options, ActivityTracker* activity)
    : store_(store),
      sessions_(sessions),
      hasher_(hasher),
      ids_(ids),
      options_(options),
      activity_(activity) {}

awaitable<Result<void>> AccountService::count_attempt(std::string key, int limit) {
  auto count = co_await sessions_.hit(std::move(key), options_.window);
  if (!count) co_return std::move(count).error();
  if (count->hits > limit) {
    const auto secs = std::chrono::ceil<std::chrono::seconds>(count->reset_in).count();
    co_return Error{Errc::rate_limited, "too many attempts; try again later",
                    static_cast<int>(std::max<std::int64_t>(1, secs))};
  }
  co_return Result<void>{};
}

awaitable<Result<NewSession>> AccountService::open_session(UserId user, std::string role) {
  std::array<unsigned char, 32> random{};
  randombytes_buf(random.data(), random.size());
  std::string token(sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(token.data(), token.size(), random.data(), random.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  token.resize(AccountLimits::kTokenRandomChars);
  token += '.' + std::to_string(unix_ms(options_.clock->now()) / 1000);
  // Arguments are named first: GCC 12 destroys a temporary built inside co_await twice.
  SessionData data{user, std::move(role)};
  std::string key = session_key(token);
  auto created = co_await sessions_.create(std::move(key), std::move(data),
                                           std::chrono::milliseconds(options_.session_ttl));
  if (!created) co_return std::move(created).error();
  co_return NewSession{std::move(token), user, options_.session_ttl};
}

awaitable<Result<SignedUp>> AccountService::sign_up(std::string email, std::string password,
                                                    User profile, std::string client) {
  auto normalized = normalize_email(email);
  if (!normalized) co_return std::move(normalized).error();
  if (auto r = check_password_length(password, AccountLimits::kMinPassword); !r)
    co_return std::move(r).error();
  if (common_password(password))
    co_return Error{Errc::invalid_argument,
                    "password: one of the most common passwords; choose another"};
  std::string address_key = "signup:c:" + address_bucket(client);
  if (auto r = co_await count_attempt(std::move(address_key), options_.attempts_per_address); !r)
    co_return std::move(r).error();
  auto hash = co_await hasher_.hash(std::move(password));
  if (!hash) co_return std::move(hash).error();
  profile.id = ids_.next();
  Account account{profile.id, std::move(*normalized), std::move(*hash), "user"};
  auto user = co_await store_.create_account(std::move(profile), std::move(account));
  if (!user) co_return std::move(user).error();
  std::string role = "user";
  auto session = co_await open_session(user->user.id, std::move(role));
  if (!session) co_return std::move(session).error();
  co_return SignedUp{std::move(*session), std::move(*user)};
}

awaitable<Result<NewSession>> AccountService::log_in(std::string email, std::string password,
                                                     std::string client) {
  auto normalized = normalize_email(email);
  if (!normalized) co_return std::move(normalized).error();
  if (auto r = check_password_length(password, 1); !r) co_return std::move(r).error();
  client = address_bucket(client);
  std::string address_key = "login:c:" + client;
  if (auto r = co_await count_attempt(std::move(address_key), options_.attempts_per_address); !r)
    co_return std::move(r).error();
  const std::string account_digest = digest(*normalized, 16);
  std::string pair_key = "login:p:" + account_digest + ":" + client;
  if (auto r = co_await count_attempt(std::move(pair_key), options_.attempts_per_account_address);
      !r)
    co_return std::move(r).error();
  std::string account_key = "login:a:" + account_digest;
  if (auto r = co_await count_attempt(std::move(account_key), options_.attempts_per_account); !r)
    co_return std::move(r).error();
  auto account = co_await store_.find_account(*normalized);
  if (!account && account.error().code != Errc::not_found) co_return std::move(account).error();
  if (!account) {
    auto decoy = co_await hasher_.verify_nothing(std::move(password));
    if (!decoy) co_return std::move(decoy).error();
    co_return kWrongCredentials;
  }
  auto match = co_await hasher_.verify(std::move(account->password_hash), std::move(password));
  if (!match) co_return std::move(match).error();
  if (!*match) co_return kWrongCredentials;
  auto session = co_await open_session(account->user_id, account->role);
  if (!session) co_return session;
  // set_role ends the sessions open when it runs: one opened after it, with the role read
  // before it, would outlive the change. So the role is read again now that the session
  // exists, and a session opened with a role that no longer holds is ended.
  auto now = co_await store_.find_account(*normalized);
  if (now && now->user_id == account->user_id && now->role == account->role) co_return session;
  auto revoked = co_await sessions_.revoke(session_key(session->token));
  if (!revoked) co_return std::move(revoked).error();
  co_return Error{Errc::unavailable, "the account changed during the login; log in again"};
}

awaitable<Result<Principal>> AccountService::authenticate(std::string token) {
  const auto issued = token_issued_s(token);
  if (!issued) co_return Error{Errc::unauthenticated, "session token is malformed"};
  std::string key = session_key(token);
  const std::int64_t age_s = unix_ms(options_.clock->now()) / 1000 - *issued;
  if (age_s >= options_.session_max_lifetime.count()) {
    // Its row goes too (best effort: it expires on its own anyway).
    auto revoked = co_await sessions_.revoke(std::move(key));
    (void)revoked;
    co_return Error{Errc::unauthenticated, "session reached its maximum lifetime; log in again"};
  }
  auto session =
      co_await sessions_.touch(std::move(key), std::chrono::milliseconds(options_.session_ttl));
  if (!session && session.error().code == Errc::not_found)
    co_return Error{Errc::unauthenticated, "session expired or revoked; log in again"};
  if (!session) co_return std::move(session).error();
  if (activity_) activity_->seen(session->user_id);
  co_return Principal{session->user_id, std::move(session->role)};
}

awaitable<Result<void>> AccountService::log_out(std::string token) {
  auto principal = co_await authenticate(token);
  if (!principal) co_return std::move(principal).error();
  std::string key = session_key(token);
  co_return co_await sessions_.revoke(std::move(key));
}

awaitable<Result<void>> AccountService::end_sessions_of(UserId user) {
  co_return co_await sessions_.revoke_user(user);
}

awaitable<Result<void>> AccountService::set_role(UserId user, std::string role) {
  if (role != "user" && role != "admin")
    co_return Error{Errc::invalid_argument, "role must be \"user\" or \"admin\""};
  if (auto set = co_await store_.set_role(user, std::move(role)); !set) co_return set;
  // After the store: a login between the two gets the new role; one before it is ended here.
  co_return co_await sessions_.revoke_user(user);
}

}  // namespace ztm::app
