#pragma once
// Who sent a request: the session token (Authorization: Bearer, else the ztm_session cookie)
// resolved to a Principal through AccountService, and the client's address (the peer, or what a
// trusted load balancer says in X-Forwarded-For). Failures are Errors (see api/errors.h).

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <vector>

#include "app/accounts.h"
#include "core/result.h"
#include "http/message.h"

namespace ztm::api {

inline constexpr std::string_view kSessionCookie = "ztm_session";

enum class CookieSecure { auto_, always, never };

struct AuthOptions {
  std::vector<boost::asio::ip::address> trusted_proxies;  // their X-Forwarded-* are believed
  CookieSecure cookie_secure = CookieSecure::auto_;
};

// "10.0.0.1, ::1" -> addresses; std::invalid_argument naming the bad entry.
std::vector<boost::asio::ip::address> parse_address_list(std::string_view text);

class Auth {
 public:
  Auth(app::AccountService& accounts, AuthOptions options)
      : accounts_(accounts), options_(std::move(options)) {}

  // The token a request carries; nullopt when it carries none. A malformed Authorization header
  // or cookie yields its text anyway, so that authenticate() rejects it with a clear message.
  static std::optional<std::string> token(const http::Request& req);

  // The caller's principal; unauthenticated (no/invalid session) or unavailable (session store
  // down) otherwise.
  boost::asio::awaitable<Result<app::Principal>> principal(http::Request& req);

  // The client's address for rate limits: the peer, or, from a trusted proxy, the right-most
  // address in X-Forwarded-For (every header line) that is not a trusted proxy.
  std::string client_address(const http::Request& req) const;
  // The same address, parsed (GET /cdn.json routes by it); allocates nothing for IPv4 hops.
  boost::asio::ip::address client_ip(const http::Request& req) const;

  // A CDN edge's fetch for its cache: Ztm-Edge-Fetch from a trusted proxy (deploy/varnish/
  // edge.vcl sets it; the load balancer's public frontend deletes a client's).
  bool edge_fetch(const http::Request& req) const;

  // The Set-Cookie value that carries `session` (or, with nullopt, that clears the cookie).
  std::string cookie(const http::Request& req, const app::NewSession* session) const;

  app::AccountService& accounts() { return accounts_; }

 private:
  bool trusted(const http::Request& req) const;
  bool trusted(const boost::asio::ip::address& peer) const;

  app::AccountService& accounts_;
  AuthOptions options_;
};

// forbidden unless `who` is the user `owner` or an admin.
Result<void> require_owner(const app::Principal& who, UserId owner);

}  // namespace ztm::api
