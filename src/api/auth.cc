#include "api/auth.h"

#include <algorithm>
#include <stdexcept>

namespace ztm::api {

using app::NewSession;
using app::Principal;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of cookie `name` in a Cookie header ("a=1; ztm_session=X"), if present.
std::optional<std::string_view> find_cookie(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto semi = header.find(';');
    const std::string_view pair = trim(header.substr(0, semi));
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name)
      return trim(pair.substr(eq + 1));
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return std::nullopt;
}

}  // namespace

std::vector<boost::asio::ip::address> parse_address_list(std::string_view text) {
  std::vector<boost::asio::ip::address> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string entry(trim(text.substr(0, comma)));
    if (!entry.empty()) {
      boost::system::error_code ec;
      auto a = boost::asio::ip::make_address(entry, ec);
      if (ec) throw std::invalid_argument("'" + entry + "' is not an IP address");
      out.push_back(a);
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

std::optional<std::string> Auth::token(const http::Request& req) {
  const std::string_view authorization = req.header(http::Field::authorization);
  if (!authorization.empty()) {
    constexpr std::string_view kBearer = "Bearer ";
    if (authorization.size() > kBearer.size() &&
        std::equal(kBearer.begin(), kBearer.end(), authorization.begin(),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
      return std::string(trim(authorization.substr(kBearer.size())));
    return std::string();  // another scheme: malformed for us
  }
  if (auto v = find_cookie(req.header(http::Field::cookie), kSessionCookie)) return std::string(*v);
  return std::nullopt;
}

boost::asio::awaitable<Result<Principal>> Auth::principal(http::Request& req) {
  auto t = token(req);
  if (!t) co_return Error{Errc::unauthenticated, "log in first (POST /sessions)"};
  co_return co_await accounts_.authenticate(std::move(*t));
}

bool Auth::trusted(const boost::asio::ip::address& peer) const {
  return std::find(options_.trusted_proxies.begin(), options_.trusted_proxies.end(), peer) !=
         options_.trusted_proxies.end();
}

bool Auth::trusted(const http::Request& req) const {
  return trusted(req.peer);
}

bool Auth::edge_fetch(const http::Request& req) const {
  return req.find_header("Ztm-Edge-Fetch") && trusted(req);
}

// X-Forwarded-For lists the hops a request came through, one appended by each proxy, over any
// number of header lines (which read as one list, in order). Everything left of the entry our
// own proxy appended is whatever the client wrote. So: walk from the right past our trusted
// proxies; the first address that is not one of them is the client. An entry that is not an
// address ends the walk at the last hop we could vouch for.
boost::asio::ip::address Auth::client_ip(const http::Request& req) const {
  boost::asio::ip::address client = req.peer;
  if (!trusted(client)) return client;
  // The header lines from the last, each line's entries from the right.
  auto [first, it] = req.msg.equal_range("X-Forwarded-For");
  while (it != first && trusted(client)) {
    --it;
    std::string_view line(it->value().data(), it->value().size());
    for (bool more = true; more && trusted(client);) {
      const auto comma = line.rfind(',');
      more = comma != std::string_view::npos;
      const std::string_view hop = trim(more ? line.substr(comma + 1) : line);
      line = line.substr(0, more ? comma : 0);
      boost::system::error_code ec;
      auto a = boost::asio::ip::make_address(hop, ec);
      if (ec) return client;
      client = a;
    }
  }
  return client;
}

std::string Auth::client_address(const http::Request& req) const {
  return client_ip(req).to_string();
}

std::string Auth::cookie(const http::Request& req, const NewSession* session) const {
  bool secure = options_.cookie_secure == CookieSecure::always;
  if (options_.cookie_secure == CookieSecure::auto_ && trusted(req))
    secure = req.header("X-Forwarded-Proto") == "https";
  std::string out =
      std::string(kSessionCookie) + "=" + (session ? session->token : "") +
      "; Path=/; Max-Age=" + (session ? std::to_string(session->expires_in.count()) : "0") +
      "; HttpOnly; SameSite=Lax";
  if (secure) out += "; Secure";
  return out;
}

Result<void> require_owner(const Principal& who, UserId owner) {
  if (who.user_id == owner || who.admin()) return {};
  return Error{Errc::forbidden, "only the user itself or an admin may change it"};
}

}  // namespace ztm::api
