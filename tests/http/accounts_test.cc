// Accounts, sessions and who may change a user, end to end over real sockets.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "tests/support/http_client.h"
#include "tests/support/test_server.h"

namespace ztm {
namespace {
using test::error_code;
using test::HttpClient;
using test::Reply;
using test::TestServer;
namespace json = boost::json;

constexpr const char* kProfile =
    R"({"firstName":"Ada","lastName":"Lovelace","address":{"streetAddress":"1 St James's Square","city":"London","state":"LDN","postalCode":12345}})";
constexpr const char* kReplacement =
    R"({"firstName":"John","lastName":"Smyth","address":{"streetAddress":"21 2nd Street","city":"New York","state":"NY","postalCode":10021}})";

std::string sign_up_body(const std::string& email, const std::string& password) {
  return R"({"email":")" + email + R"(","password":")" + password + R"(","profile":)" + kProfile +
         "}";
}

std::string credentials(const std::string& email, const std::string& password) {
  return R"({"email":")" + email + R"(","password":")" + password + R"("})";
}

class AccountsTest : public ::testing::Test {
 protected:
  TestServer server{[](Config& config) {
    config.accounts.login_attempts_per_account = 5;
    config.accounts.login_attempts_per_address = 20;
  }};
  HttpClient c{server.port()};
};

TEST_F(AccountsTest, SignUpLogInMeAndLogOut) {
  auto up = c.request("POST", "/accounts", sign_up_body("ada@example.com", "analytical engine"));
  ASSERT_EQ(up.status, 201u) << up.body;
  const auto created = json::parse(up.body);
  const auto id = created.at("user").at("id").as_int64();
  EXPECT_EQ(up.header("location"), "/users/" + std::to_string(id));
  EXPECT_EQ(created.at("user_id").as_int64(), id);
  const std::string cookie = up.header("set-cookie");
  EXPECT_TRUE(
      cookie.starts_with("ztm_session=" + std::string(created.at("token").as_string()) + ";"));
  for (const char* attr : {"; HttpOnly", "; SameSite=Lax", "; Path=/", "; Max-Age="})
    EXPECT_NE(cookie.find(attr), std::string::npos) << cookie;
  EXPECT_EQ(cookie.find("Secure"), std::string::npos) << "plain HTTP, no proxy: not Secure";

  auto login = c.request("POST", "/sessions", credentials("ADA@example.com", "analytical engine"));
  ASSERT_EQ(login.status, 201u) << login.body;
  const std::string token(json::parse(login.body).at("token").as_string());

  // The bearer header and the cookie both authenticate.
  auto me = c.request("GET", "/me", {}, "Authorization: Bearer " + token + "\r\n");
  ASSERT_EQ(me.status, 200u) << me.body;
  EXPECT_EQ(json::parse(me.body).at("id").as_int64(), id);
  EXPECT_EQ(me.header("cache-control"), "private, no-store");
  EXPECT_EQ(c.request("GET", "/me", {}, "Cookie: theme=dark; ztm_session=" + token + "\r\n").status,
            200u);

  auto out = c.request("DELETE", "/sessions/current", {}, "Cookie: ztm_session=" + token + "\r\n");
  EXPECT_EQ(out.status, 204u) << out.body;
  EXPECT_NE(out.header("set-cookie").find("Max-Age=0"), std::string::npos);
  auto after = c.request("GET", "/me", {}, "Authorization: Bearer " + token + "\r\n");
  EXPECT_EQ(after.status, 401u);
  EXPECT_EQ(error_code(after), "unauthenticated");
  EXPECT_EQ(after.header("www-authenticate"), "Bearer");
  // The sign-up's own session is another session: still alive.
  EXPECT_EQ(
      c.request("GET", "/me", {}, "Cookie: " + cookie.substr(0, cookie.find(';')) + "\r\n").status,
      200u);
}

TEST_F(AccountsTest, OnlyTheOwnerOrAnAdminChangesAUser) {
  auto up = c.request("POST", "/accounts", sign_up_body("ada@example.com", "analytical engine"));
  ASSERT_EQ(up.status, 201u) << up.body;
  const std::string ada(json::parse(up.body).at("token").as_string());
  const std::string john = server.user_token();
  const std::string admin = server.admin_token();

  auto anonymous = c.request("PUT", "/users/12", kReplacement);
  EXPECT_EQ(anonymous.status, 401u);
  EXPECT_EQ(error_code(anonymous), "unauthenticated");
  for (const char* method : {"PUT", "PATCH", "DELETE"}) {
    c.authorize(ada);
    auto r = c.request(method, "/users/12", std::string(method) == "DELETE" ? "" : kReplacement);
    EXPECT_EQ(r.status, 403u) << method << " " << r.body;
    EXPECT_EQ(error_code(r), "forbidden");
  }
  c.authorize(john);
  EXPECT_EQ(c.request("PUT", "/users/12", kReplacement).status, 200u);
  EXPECT_EQ(c.request("POST", "/users", kProfile).status, 403u);  // only admins create users
  c.authorize(admin);
  EXPECT_EQ(c.request("PATCH", "/users/12", R"({"lastName":"Smith"})").status, 200u);
  EXPECT_EQ(c.request("POST", "/users", kProfile).status, 201u);
  c.authorize("");
  EXPECT_EQ(json::parse(c.request("GET", "/users/12").body).at("lastName").as_string(), "Smith");
}

TEST_F(AccountsTest, DeletingAUserEndsItsSessions) {
  auto up = c.request("POST", "/accounts", sign_up_body("ada@example.com", "analytical engine"));
  ASSERT_EQ(up.status, 201u);
  const auto id = json::parse(up.body).at("user_id").as_int64();
  c.authorize(std::string(json::parse(up.body).at("token").as_string()));
  EXPECT_EQ(c.request("DELETE", "/users/" + std::to_string(id)).status, 204u);
  EXPECT_EQ(c.request("GET", "/me").status, 401u);
  c.authorize("");
  EXPECT_EQ(
      c.request("POST", "/sessions", credentials("ada@example.com", "analytical engine")).status,
      401u);
}

// Security review (issue 13, low): a role change takes effect on the user's next request.
TEST_F(AccountsTest, AnAdminChangesARoleAndItHoldsFromTheUsersNextRequest) {
  auto up = c.request("POST", "/accounts", sign_up_body("ada@example.com", "analytical engine"));
  ASSERT_EQ(up.status, 201u) << up.body;
  const auto id = std::to_string(json::parse(up.body).at("user_id").as_int64());
  const std::string ada(json::parse(up.body).at("token").as_string());
  const std::string role = "/admin/users/" + id + "/role";
  HttpClient as_ada(server.port()), as_admin(server.port());
  as_ada.authorize(ada);
  as_admin.authorize(server.admin_token());

  EXPECT_EQ(as_ada.request("GET", "/admin/kpis").status, 403u);
  auto self_promotion = as_ada.request("PUT", role, R"({"role":"admin"})");
  EXPECT_EQ(self_promotion.status, 403u);
  EXPECT_EQ(error_code(self_promotion), "forbidden");

  ASSERT_EQ(as_admin.request("PUT", role, R"({"role":"admin"})").status, 204u);
  EXPECT_EQ(as_ada.request("GET", "/me").status, 401u);  // the session opened as a user ended
  auto login = c.request("POST", "/sessions", credentials("ada@example.com", "analytical engine"));
  ASSERT_EQ(login.status, 201u) << login.body;
  as_ada.authorize(std::string(json::parse(login.body).at("token").as_string()));
  EXPECT_EQ(as_ada.request("GET", "/admin/kpis").status, 200u);

  ASSERT_EQ(as_admin.request("PUT", role, R"({"role":"user"})").status, 204u);
  EXPECT_EQ(as_ada.request("GET", "/admin/kpis").status, 401u);  // demoted: at once

  for (const auto& [body, status, code] :
       std::vector<std::tuple<std::string, unsigned, std::string>>{
           {R"({"role":"root"})", 422, "validation_failed"},
           {R"({"role":1})", 422, "validation_failed"},
           {R"({"role":"admin","email":"x@y.z"})", 422, "validation_failed"},
           {R"(["admin"])", 422, "validation_failed"},
           {R"({"role":)", 400, "invalid_json"}}) {
    auto r = as_admin.request("PUT", role, body);
    EXPECT_EQ(r.status, status) << body << " " << r.body;
    EXPECT_EQ(error_code(r), code) << body;
  }
  EXPECT_EQ(as_admin.request("PUT", "/admin/users/424242/role", R"({"role":"admin"})").status,
            404u);
  EXPECT_EQ(as_admin.request("PUT", "/admin/users/x/role", R"({"role":"admin"})").status, 404u);
  c.authorize("");
  EXPECT_EQ(c.request("PUT", role, R"({"role":"admin"})").status, 401u);
}

TEST_F(AccountsTest, FailedLoginsDoNotRevealWhetherTheAccountExists) {
  auto wrong =
      c.request("POST", "/sessions", credentials("john.smith@example.com", "wrong password"));
  auto unknown =
      c.request("POST", "/sessions", credentials("nobody@example.com", "wrong password"));
  EXPECT_EQ(wrong.status, 401u);
  EXPECT_EQ(unknown.status, 401u);
  EXPECT_EQ(wrong.body, unknown.body);
}

TEST_F(AccountsTest, BadCredentialsAndTokensGetClear4xx) {
  struct Case {
    const char* method;
    const char* target;
    std::string body;
    std::string headers;
    unsigned status;
    const char* code;
  };
  const std::vector<Case> cases = {
      {"POST", "/sessions", credentials("john.smith@example.com", std::string(129, 'p')), "", 422,
       "validation_failed"},
      {"POST", "/sessions", credentials(std::string(300, 'a') + "@example.com", "password1"), "",
       422, "validation_failed"},
      {"POST", "/sessions", credentials("not-an-email", "password1"), "", 422, "validation_failed"},
      {"POST", "/sessions", R"({"email":"a@b.c"})", "", 422, "validation_failed"},
      {"POST", "/sessions", R"({"email":"a@b.c","password":"x","admin":true})", "", 422,
       "validation_failed"},
      {"POST", "/sessions", R"({"email":1,"password":"x"})", "", 422, "validation_failed"},
      {"POST", "/sessions", R"(["a@b.c","x"])", "", 422, "validation_failed"},
      {"POST", "/sessions", "email=a@b.c", "", 400, "invalid_json"},
      {"POST", "/accounts", sign_up_body("ada@example.com", "short"), "", 422, "validation_failed"},
      {"POST", "/accounts", credentials("ada@example.com", "long enough"), "", 422,
       "validation_failed"},
      {"POST", "/accounts",
       R"({"email":"ada@example.com","password":"long enough","profile":{"firstName":""}})", "",
       422, "validation_failed"},
      {"POST", "/accounts", sign_up_body("john.smith@example.com", "long enough"), "", 409,
       "conflict"},
      {"GET", "/me", "", "", 401, "unauthenticated"},
      {"GET", "/me", "", "Authorization: Bearer " + std::string(43, 'A') + "\r\n", 401,
       "unauthenticated"},
      {"GET", "/me", "", "Authorization: Bearer short\r\n", 401, "unauthenticated"},
      {"GET", "/me", "", "Authorization: Basic am9objpzZWNyZXQ=\r\n", 401, "unauthenticated"},
      {"GET", "/me", "", "Cookie: ztm_session=\r\n", 401, "unauthenticated"},
      {"GET", "/me", "", "Cookie: ;;;=;ztm_session\r\n", 401, "unauthenticated"},
      {"GET", "/me", "", "Cookie: ztm_session=" + std::string(5000, 'x') + "\r\n", 401,
       "unauthenticated"},
      {"GET", "/me", "", "Cookie: ztm_session=\"quoted\xff\"\r\n", 401, "unauthenticated"},
      {"DELETE", "/sessions/current", "", "", 401, "unauthenticated"},
  };
  for (const auto& k : cases) {
    auto r = c.request(k.method, k.target, k.body, k.headers);
    EXPECT_EQ(r.status, k.status) << k.method << " " << k.target << " " << k.body.substr(0, 80)
                                  << " " << r.body;
    EXPECT_EQ(error_code(r), k.code) << k.method << " " << k.target << " " << k.body.substr(0, 80);
  }
  // The server is fine afterwards.
  EXPECT_EQ(c.request("GET", "/users/12").status, 200u);
}

TEST_F(AccountsTest, LoginsAreRateLimitedPerAccountWith429AndRetryAfter) {
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(
        c.request("POST", "/sessions", credentials("john.smith@example.com", "wrong password"))
            .status,
        401u);
  auto limited =
      c.request("POST", "/sessions", credentials("john.smith@example.com", "john-demo-password"));
  EXPECT_EQ(limited.status, 429u) << limited.body;
  EXPECT_EQ(error_code(limited), "rate_limited");
  const int retry = std::stoi(limited.header("retry-after"));
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 60);
  // Another account from the same address is not limited yet.
  EXPECT_EQ(c.request("POST", "/sessions", credentials("admin@example.com", "admin-demo-password"))
                .status,
            201u);
}

TEST(AccountsBehindAProxy, ForwardedHeadersAreBelievedOnlyFromTrustedProxies) {
  TestServer trusted([](Config& config) {
    config.accounts.login_attempts_per_address = 2;
    config.http.trusted_proxies = "127.0.0.1";
  });
  HttpClient c(trusted.port());
  // Behind the proxy, each client address has its own budget.
  for (const char* client : {"203.0.113.1", "203.0.113.2"})
    for (int i = 0; i < 2; ++i)
      EXPECT_EQ(c.request("POST", "/sessions", credentials("nobody@example.com", "password1"),
                          std::string("X-Forwarded-For: 198.51.100.7, ") + client + "\r\n")
                    .status,
                401u);
  EXPECT_EQ(c.request("POST", "/sessions", credentials("nobody@example.com", "password1"),
                      "X-Forwarded-For: 203.0.113.1\r\n")
                .status,
            429u);
  auto login =
      c.request("POST", "/sessions", credentials("admin@example.com", "admin-demo-password"),
                "X-Forwarded-For: 203.0.113.3\r\nX-Forwarded-Proto: https\r\n");
  ASSERT_EQ(login.status, 201u) << login.body;
  EXPECT_NE(login.header("set-cookie").find("; Secure"), std::string::npos) << "TLS at the proxy";

  // Finding 2 of issue 13: HAProxy's `option forwardfor` adds its own header line after the
  // client's. The client's line (however it rotates) does not buy a new budget: the address is
  // the right-most one that is not a trusted proxy, over every line.
  TestServer behind_lb([](Config& config) {
    config.accounts.login_attempts_per_address = 2;
    config.http.trusted_proxies = "127.0.0.1, 10.0.0.2";
  });
  HttpClient lb(behind_lb.port());
  for (int i = 0; i < 5; ++i) {
    const auto r = lb.request("POST", "/sessions", credentials("nobody@example.com", "password1"),
                              "X-Forwarded-For: 192.0.2." + std::to_string(i) +
                                  "\r\nX-Forwarded-For: 203.0.113.5, 10.0.0.2\r\n");
    EXPECT_EQ(r.status, i < 2 ? 401u : 429u) << i;
  }
  // The same client through one line, the proxies' hops after it: the same budget, spent.
  EXPECT_EQ(lb.request("POST", "/sessions", credentials("nobody@example.com", "password1"),
                       "X-Forwarded-For: 1.2.3.4, 203.0.113.5, 10.0.0.2\r\n")
                .status,
            429u);

  // Without trust, X-Forwarded-For is ignored: every request counts against the peer.
  TestServer direct([](Config& config) { config.accounts.login_attempts_per_address = 2; });
  HttpClient d(direct.port());
  for (const char* client : {"203.0.113.1", "203.0.113.2"})
    d.request("POST", "/sessions", credentials("nobody@example.com", "password1"),
              std::string("X-Forwarded-For: ") + client + "\r\n");
  EXPECT_EQ(d.request("POST", "/sessions", credentials("nobody@example.com", "password1"),
                      "X-Forwarded-For: 203.0.113.9\r\n")
                .status,
            429u);
}

}  // namespace
}  // namespace ztm
