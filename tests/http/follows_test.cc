// Follows over HTTP (docs/sharding.md, "Follows"): the whole web tier in-process, its own outbox
// relay writing the followers' copy. The demo data's users are 1..22; John Smith is 12. The
// counts in the user documents: served from the caches (L1; with a Redis L2 too), refreshed
// when a follow changes them, under an ETag that changes with them.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "tests/support/eventually.h"
#include "tests/support/http_client.h"
#include "tests/support/redis_instance.h"
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
  // The client may speak as an edge of ours (Ztm-Edge-Fetch from a trusted proxy).
  FollowsTest() : FollowsTest([](Config& config) { config.http.trusted_proxies = "127.0.0.1"; }) {}
  explicit FollowsTest(const std::function<void(Config&)>& configure) : server(configure) {
    c.authorize(server.user_token());
  }
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
  auto r = c.request("GET", "/users/5/followers", {}, "Ztm-Edge-Fetch: 1\r\n");  // an edge's
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

// GET /users/{id}'s followers and following, with its ETag.
struct Counted {
  std::int64_t followers = -1, following = -1;
  std::string etag;
  bool operator==(const Counted& o) const {  // the counts; ETags are compared apart
    return followers == o.followers && following == o.following;
  }
};

// The counts as a user document shows them: the cached copy when there is one (a plain GET), the
// follow call invalidating the follower's at once and the relay both users' once it has passed.
void expect_counts_follow_the_edges(HttpClient& c, HttpClient& anonymous) {
  auto counted = [&](int id, std::string if_none_match = {}) {
    auto r = anonymous.request(
        "GET", "/users/" + std::to_string(id), {},
        if_none_match.empty() ? std::string() : "If-None-Match: " + if_none_match + "\r\n");
    EXPECT_EQ(r.status, 200u) << r.body;
    if (r.status != 200) return Counted{};
    auto v = json::parse(r.body);
    return Counted{v.at("followers").as_int64(), v.at("following").as_int64(), r.header("etag")};
  };
  const Counted john = counted(12), five = counted(5);  // both cached from here on
  EXPECT_EQ(john, (Counted{0, 0}));
  EXPECT_EQ(five, (Counted{0, 0}));
  EXPECT_EQ(anonymous.request("GET", "/users/5", {}, "If-None-Match: " + five.etag + "\r\n").status,
            304u);

  ASSERT_EQ(c.request("POST", "/users/5/follow").status, 204u);
  EXPECT_EQ(counted(12), (Counted{0, 1}));  // the follower's own count: at once
  EXPECT_TRUE(eventually([&] { return counted(5) == Counted{1, 0}; }));  // once the relay passed
  // The old ETag no longer matches: 200 with the new counts, not a 304 with the old ones.
  const Counted followed = counted(5, five.etag);
  EXPECT_EQ(followed, (Counted{1, 0}));
  EXPECT_NE(followed.etag, five.etag);
  // Unchanged counts keep their ETag: a revalidation is still a 304.
  EXPECT_EQ(
      anonymous.request("GET", "/users/5", {}, "If-None-Match: " + followed.etag + "\r\n").status,
      304u);

  ASSERT_EQ(c.request("DELETE", "/users/5/follow").status, 204u);
  EXPECT_EQ(counted(12), (Counted{0, 0}));
  EXPECT_TRUE(eventually([&] { return counted(5) == Counted{0, 0}; }));
  // The same document as before the follow: the same ETag.
  EXPECT_EQ(counted(5).etag, five.etag);
}

TEST_F(FollowsTest, CountsInTheUserDocumentFollowTheEdgesThroughTheCache) {
  HttpClient anonymous(server.port());
  expect_counts_follow_the_edges(c, anonymous);
}

// The counts are no part of the user's version: a write's If-Match compares the version, so a
// GET-modify-PUT succeeds after a follow changed the counts, and still fails after another write.
TEST_F(FollowsTest, IfMatchComparesTheVersionWhileTheCountsChange) {
  auto before = c.request("GET", "/users/12");
  ASSERT_EQ(before.status, 200u);
  ASSERT_EQ(c.request("POST", "/users/5/follow").status, 204u);
  auto doc = json::parse(before.body).as_object();
  EXPECT_EQ(doc.at("following"), 0);  // sent back as read: read-only and ignored
  doc["firstName"] = "Johnny";
  const std::string body = json::serialize(doc);
  auto put = c.request("PUT", "/users/12", body, "If-Match: " + before.header("etag") + "\r\n");
  ASSERT_EQ(put.status, 200u) << put.body;
  auto written = json::parse(put.body);
  EXPECT_EQ(written.at("firstName"), "Johnny");
  EXPECT_EQ(written.at("following"), 1);  // the answer is the document a GET now returns
  auto after = c.request("GET", "/users/12");
  EXPECT_EQ(after.body, put.body);
  EXPECT_EQ(after.header("etag"), put.header("etag"));
  expect_error(c.request("PUT", "/users/12", body, "If-Match: " + before.header("etag") + "\r\n"),
               412, "precondition_failed", "the version before the PUT");
  auto bad = doc;
  bad["followers"] = -1;
  expect_error(c.request("PUT", "/users/12", json::serialize(bad)), 422, "validation_failed",
               "a negative count");
}

// With a Redis L2 between the web tier and the database (engine: a redis-server of its own),
// started before the server (base classes are built in order) so that its Config can name it.
struct WithRedis {
  test::RedisInstance redis;
};

class FollowCountsRedisTest : private WithRedis, public FollowsTest {
 protected:
  FollowCountsRedisTest()
      : FollowsTest([this](Config& config) { config.cache.l2_nodes = redis.address(); }) {}
};

TEST_F(FollowCountsRedisTest, CountsInTheUserDocumentFollowTheEdgesThroughL1AndL2) {
  HttpClient anonymous(server.port());
  expect_counts_follow_the_edges(c, anonymous);
}

}  // namespace
}  // namespace ztm
