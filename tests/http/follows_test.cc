// Follows over HTTP (docs/sharding.md, "Follows"): the whole web tier in-process, its own outbox
// relay writing the followers' copy. The demo data's users are 1..22; John Smith is 12.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "tests/support/eventually.h"
#include "tests/support/http_client.h"
#include "tests/support/test_server.h"

namespace ztm {
namespace {

using test::eventually;
using test::HttpClient;
using test::TestServer;
namespace json = boost::json;
using Ids = std::vector<std::int64_t>;

class FollowsTest : public ::testing::Test {
 protected:
  FollowsTest() { c.authorize(server.user_token()); }
  // The ids on a page (and the page, for its other fields).
  Ids ids(const std::string& path, json::object* page = nullptr) {
    auto r = c.request("GET", path);
    EXPECT_EQ(r.status, 200u) << path << ": " << r.body;
    if (r.status != 200) return {};
    auto body = json::parse(r.body).as_object();
    Ids out;
    for (const auto& u : body.at("users").as_array()) out.push_back(u.at("id").as_int64());
    if (page) *page = std::move(body);
    return out;
  }
  // Expects a JSON error with `status` and `code`.
  void expect_error(const test::Reply& r, unsigned status, const std::string& code,
                    const std::string& what) {
    EXPECT_EQ(r.status, status) << what << ": " << r.body;
    auto v = json::parse(r.body);
    ASSERT_TRUE(v.is_object()) << what;
    EXPECT_EQ(v.at("error").at("code"), code.c_str()) << what;
    EXPECT_TRUE(v.at("error").at("message").is_string()) << what;
  }

  TestServer server;
  HttpClient c{server.port()};
};

TEST_F(FollowsTest, AFollowShowsOnBothSidesInPagesThatEdgesKeep) {
  for (int id : {7, 3, 5}) {
    auto r = c.request("POST", "/users/" + std::to_string(id) + "/follow");
    EXPECT_EQ(r.status, 204u) << r.body;
  }
  EXPECT_EQ(c.request("POST", "/users/5/follow").status, 204u);  // again: nothing changes
  json::object page;
  EXPECT_EQ(ids("/users/12/following?limit=2", &page), (Ids{3, 5}));
  EXPECT_EQ(page.at("next"), "/users/12/following?after=5&limit=2");
  EXPECT_EQ(page.at("users").as_array()[0].at("name").as_string().size() > 0, true);
  EXPECT_EQ(ids("/users/12/following?after=5&limit=2", &page), (Ids{7}));
  EXPECT_TRUE(page.at("next").is_null());
  // The followers' copy is the relay's: it comes within a pass.
  EXPECT_TRUE(eventually([&] { return ids("/users/5/followers") == Ids{12}; }));
  ids("/users/5/followers", &page);
  EXPECT_EQ(page.at("users").as_array()[0].at("name"), "John Smith");
  auto r = c.request("GET", "/users/5/followers");
  EXPECT_EQ(r.header("surrogate-key"), "followers-5");
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
  EXPECT_EQ(ids("/users/12/followers"), Ids{});
}

TEST_F(FollowsTest, UnfollowRemovesBothCopiesAndIsIdempotent) {
  ASSERT_EQ(c.request("POST", "/users/5/follow").status, 204u);
  ASSERT_TRUE(eventually([&] { return ids("/users/5/followers") == Ids{12}; }));
  EXPECT_EQ(c.request("DELETE", "/users/5/follow").status, 204u);
  EXPECT_EQ(c.request("DELETE", "/users/5/follow").status, 204u);
  EXPECT_EQ(c.request("DELETE", "/users/6/follow").status, 204u);  // never followed
  EXPECT_EQ(ids("/users/12/following"), Ids{});
  EXPECT_TRUE(eventually([&] { return ids("/users/5/followers").empty(); }));
}

TEST_F(FollowsTest, HostileRequestsGetJsonErrors) {
  HttpClient anonymous(server.port());
  expect_error(anonymous.request("POST", "/users/5/follow"), 401, "unauthenticated", "anonymous");
  expect_error(anonymous.request("DELETE", "/users/5/follow"), 401, "unauthenticated",
               "anonymous delete");
  expect_error(c.request("POST", "/users/12/follow"), 422, "validation_failed", "oneself");
  expect_error(c.request("POST", "/users/999999/follow"), 404, "not_found", "unknown user");
  expect_error(c.request("DELETE", "/users/999999/follow"), 404, "not_found", "unknown delete");
  expect_error(c.request("GET", "/users/999999/followers"), 404, "not_found", "unknown page");
  expect_error(c.request("GET", "/users/999999/following"), 404, "not_found", "unknown page");
  for (const char* bad : {"/users/abc/follow", "/users/-1/follow", "/users/0/follow",
                          "/users/99999999999999999999/follow"})
    expect_error(c.request("POST", bad), 404, "not_found", bad);
  for (const char* bad : {"/users/12/followers?limit=0", "/users/12/followers?limit=101",
                          "/users/12/following?after=-1", "/users/12/following?after=x",
                          "/users/12/following?limit=1e3"})
    expect_error(c.request("GET", bad), 400, "invalid_parameter", bad);
  HttpClient stranger(server.port());  // a token no session has
  stranger.authorize(std::string(43, 'A'));
  expect_error(stranger.request("POST", "/users/5/follow"), 401, "unauthenticated", "bad token");
  HttpClient big(server.port());  // a 413 closes its connection
  big.authorize(server.user_token());
  expect_error(big.request("POST", "/users/5/follow", std::string(100'000, 'x')), 413,
               "body_too_large", "oversized body");
  EXPECT_EQ(ids("/users/12/following"), Ids{});  // nothing was written
}

}  // namespace
}  // namespace ztm
