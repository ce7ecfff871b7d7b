// docs/cdn.md's policy table, against the whole web tier: every answer says who may store it.
// Public reads: browsers revalidate (no-cache + ETag), our edges keep them (CDN-Cache-Control,
// sent to their fetches only) under surrogate keys, readable cross-origin; personal answers,
// writes and errors: never stored.
#include "api/cache_policy.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <filesystem>
#include <fstream>
#include <limits>
#include <vector>

#include "cache/cache.h"
#include "core/run_sync.h"
#include "tests/support/http_client.h"
#include "tests/support/test_server.h"

namespace ztm {
namespace {
using test::HttpClient;
using test::Reply;
using test::TestServer;
namespace json = boost::json;

constexpr const char* kUserWindows = "max-age=60, stale-while-revalidate=7, stale-if-error=90";
constexpr const char* kListWindows = "max-age=20, stale-while-revalidate=7, stale-if-error=90";

class CachePolicyTest : public ::testing::Test {
 protected:
  TestServer server{[](Config& config) {
    config.cdn.ttl_s = 60;
    config.cdn.list_ttl_s = 20;
    config.cdn.stale_while_revalidate_s = 7;
    config.cdn.stale_if_error_s = 90;
    config.cdn.edges = "edge1=http://127.0.0.1:6081,edge2=https://[::1]:6443";
    config.http.trusted_proxies = "127.0.0.1";  // this test's client stands for an edge too
  }};
  HttpClient c{server.port()};
};

// What an edge of ours sends on its fetches (deploy/varnish/edge.vcl), from a trusted proxy.
constexpr const char* kEdgeFetch = "Ztm-Edge-Fetch: 1\r\n";

// A public read as an edge of ours fetches it: kept for `windows` under `keys`. As anyone else
// gets it (a browser, a cache not ours), without both: revalidated on every use.
void expect_public(const Reply& r, const char* windows = "", const std::string& keys = "") {
  EXPECT_EQ(r.header("cache-control"), "no-cache");
  EXPECT_EQ(r.header("cdn-cache-control"), windows);
  EXPECT_EQ(r.header("surrogate-key"), keys);
  EXPECT_FALSE(r.header("etag").empty());
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
  EXPECT_EQ(r.header("vary"), "") << "no answer varies by a request header";
}

void expect_not_stored(const Reply& r, const char* cache_control = "no-store") {
  EXPECT_EQ(r.header("cache-control"), cache_control) << r.status << " " << r.body;
  EXPECT_EQ(r.header("cdn-cache-control"), "");
  EXPECT_EQ(r.header("surrogate-key"), "");
}

TEST_F(CachePolicyTest, AUserIsKeptAtEdgesUnderItsKeyAndItsNotModifiedSaysTheSame) {
  auto r = c.request("GET", "/users/12", {}, kEdgeFetch);
  ASSERT_EQ(r.status, 200u);
  expect_public(r, kUserWindows, "user-12");
  // RFC 9111 4.3.4: a 304 updates the stored headers, so it carries the same policy.
  auto again = c.request("GET", "/users/12", {},
                         std::string(kEdgeFetch) + "If-None-Match: " + r.header("etag") + "\r\n");
  EXPECT_EQ(again.status, 304u);
  expect_public(again, kUserWindows, "user-12");
  // A browser's read, and its revalidation: the same validator, no edge's headers.
  auto direct = c.request("GET", "/users/12");
  expect_public(direct);
  EXPECT_EQ(direct.header("etag"), r.header("etag"));
  auto direct_again =
      c.request("GET", "/users/12", {}, "If-None-Match: " + r.header("etag") + "\r\n");
  EXPECT_EQ(direct_again.status, 304u);
  expect_public(direct_again);
  // A writer reading its own write (read-your-writes) gets an answer nobody keeps.
  expect_not_stored(c.request("GET", "/users/12", {}, "X-Ztm-Position: 0/1\r\n"),
                    "private, no-store");
}

TEST_F(CachePolicyTest, PagesOfUsersCarryEveryUsersKeyAndAContentETag) {
  auto r = c.request("GET", "/users?limit=2", {}, kEdgeFetch);
  ASSERT_EQ(r.status, 200u);
  const auto users = json::parse(r.body).at("users").as_array();
  ASSERT_EQ(users.size(), 2u);
  expect_public(r, kListWindows,
                "users-list user-" + std::to_string(users[0].at("id").as_int64()) + " user-" +
                    std::to_string(users[1].at("id").as_int64()));
  EXPECT_EQ(
      c.request("GET", "/users?limit=2", {}, "If-None-Match: " + r.header("etag") + "\r\n").status,
      304u);
  // Another page, another validator.
  EXPECT_NE(c.request("GET", "/users?limit=3").header("etag"), r.header("etag"));
  expect_public(c.request("GET", "/users?limit=2"));
  expect_public(c.request("GET", "/users/12/photos", {}, kEdgeFetch), kListWindows, "owner-12");
  expect_public(c.request("GET", "/users/12/photos"));
}

TEST_F(CachePolicyTest, PersonalAnswersWritesAndErrorsAreNeverStored) {
  HttpClient as_john(server.port());
  as_john.authorize(server.user_token());
  expect_not_stored(as_john.request("GET", "/me"), "private, no-store");
  auto user = as_john.request("GET", "/users/12");
  auto put =
      as_john.request("PUT", "/users/12", user.body, "If-Match: " + user.header("etag") + "\r\n");
  ASSERT_EQ(put.status, 200u) << put.body;
  expect_not_stored(put);
  auto missing = c.request("GET", "/users/424242");
  EXPECT_EQ(missing.status, 404u);
  expect_not_stored(missing);
  // A public route's error is still readable cross-origin: the page tells a 404 from a dead edge.
  EXPECT_EQ(missing.header("access-control-allow-origin"), "*");
  expect_not_stored(c.request("GET", "/users?limit=0"));
  expect_not_stored(c.request("DELETE", "/users/12"));  // 401
  for (const char* path : {"/healthz", "/readyz", "/metrics"}) {
    auto r = c.request("GET", path);
    expect_not_stored(r);
    EXPECT_EQ(r.header("access-control-allow-origin"), "") << path << ": not for other origins";
  }
}

TEST_F(CachePolicyTest, CdnJsonNamesTheEdgesTheBrowserMayUse) {
  auto r = c.request("GET", "/cdn.json");
  ASSERT_EQ(r.status, 200u);
  // Which edge is preferred depends on the caller's address: never stored by a shared cache.
  EXPECT_EQ(r.header("cache-control"), "private, max-age=60");
  EXPECT_EQ(r.header("cdn-cache-control"), "");
  EXPECT_EQ(json::parse(r.body),
            json::parse(R"({"edges":[{"name":"edge1","url":"http://127.0.0.1:6081"},)"
                        R"({"name":"edge2","url":"https://[::1]:6443"}],"preferred":"edge1"})"));
  TestServer without_cdn;
  EXPECT_EQ(HttpClient(without_cdn.port()).request("GET", "/cdn.json").body,
            R"({"edges":[],"preferred":null})");
}

std::string preferred(const Reply& r) {
  const auto v = json::parse(r.body).at("preferred");
  return v.is_string() ? std::string(v.as_string()) : "null";
}

// Request routing (docs/cdn.md): each client network has its edge; the longest prefix holding the
// client wins; elsewhere the first edge. Behind a trusted proxy the forwarded address decides.
TEST(CdnJson, EachClientNetworkIsSentToItsEdge) {
  TestServer behind_lb([](Config& config) {
    config.http.trusted_proxies = "127.0.0.1, 10.77.1.81";
    config.cdn.edges = "edge1=http://10.77.0.21,edge2=http://10.77.0.22,edge3=http://10.77.0.23";
    config.cdn.edge_networks =
        "10.77.0.32/27=edge1,10.77.0.64/27=edge2,10.77.0.72/29=edge3,2001:db8::/32=edge3";
  });
  HttpClient lb(behind_lb.port());
  auto from = [&](const std::string& forwarded) {
    return preferred(lb.request("GET", "/cdn.json", {}, "X-Forwarded-For: " + forwarded + "\r\n"));
  };
  EXPECT_EQ(from("10.77.0.33"), "edge1");
  EXPECT_EQ(from("10.77.0.63"), "edge1");
  EXPECT_EQ(from("10.77.0.65"), "edge2");
  EXPECT_EQ(from("10.77.0.73"), "edge3") << "10.77.0.72/29 is inside 10.77.0.64/27: longer wins";
  EXPECT_EQ(from("10.77.0.80"), "edge2");
  EXPECT_EQ(from("10.77.0.96"), "edge1") << "outside every network: the first edge";
  EXPECT_EQ(from("203.0.113.9"), "edge1");
  EXPECT_EQ(from("2001:db8:1::5"), "edge3");
  EXPECT_EQ(from("::ffff:10.77.0.65"), "edge2") << "an IPv4-mapped client is its IPv4 address";
  EXPECT_EQ(from("2001:db9::5"), "edge1");
  // The right-most untrusted hop: a client's own claim left of it counts for nothing, and a
  // request through an edge (trusted) is routed by the client the edge saw.
  EXPECT_EQ(from("10.77.0.65, 10.77.0.33"), "edge1");
  EXPECT_EQ(from("10.77.0.65, 10.77.1.81"), "edge2");
  EXPECT_EQ(from("not-an-address"), "edge1") << "the proxy itself (127.0.0.1) is the client";
  // The edges' order is the configured one, whichever is preferred.
  const auto body =
      json::parse(lb.request("GET", "/cdn.json", {}, "X-Forwarded-For: 10.77.0.65\r\n").body);
  EXPECT_EQ(body.at("edges").at(0).at("name"), "edge1");
  EXPECT_EQ(body.at("edges").at(2).at("name"), "edge3");

  // Not from a trusted proxy: the peer decides, whatever X-Forwarded-For claims.
  TestServer direct([](Config& config) {
    config.cdn.edges = "edge1=http://10.77.0.21,edge2=http://10.77.0.22";
    config.cdn.edge_networks = "10.77.0.32/27=edge1,127.0.0.0/8=edge2";
  });
  EXPECT_EQ(preferred(HttpClient(direct.port())
                          .request("GET", "/cdn.json", {}, "X-Forwarded-For: 10.77.0.33\r\n")),
            "edge2");
}

// Content-hashed bundler output under /assets/ is immutable and loadable from an edge; the page
// itself is revalidated, and its CSP lets it load from the edges and nowhere else.
TEST(StaticFiles, AssetsAreImmutableAndThePageMayLoadFromTheEdges) {
  char dir[] = "/tmp/ztm-static-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::filesystem::create_directory(std::string(dir) + "/assets");
  std::ofstream(std::string(dir) + "/index.html") << "<h1>ztm</h1>";
  std::ofstream(std::string(dir) + "/assets/app.3f2a9c1e.js") << "export {};";
  TestServer server([&](Config& c) {
    c.http.static_dir = dir;
    c.cdn.edges = "edge1=http://10.77.0.21,edge2=http://10.77.0.22";
  });
  HttpClient c(server.port());
  auto page = c.request("GET", "/");
  EXPECT_EQ(page.status, 200u);
  EXPECT_EQ(page.header("cache-control"), "no-cache");
  EXPECT_EQ(page.header("content-security-policy"),
            "default-src 'self' http://10.77.0.21 http://10.77.0.22; img-src 'self' "
            "http://10.77.0.21 http://10.77.0.22 blob: data:; frame-ancestors 'none'");
  EXPECT_EQ(page.header("access-control-allow-origin"), "");
  auto asset = c.request("GET", "/assets/app.3f2a9c1e.js");
  EXPECT_EQ(asset.status, 200u);
  EXPECT_EQ(asset.header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(asset.header("cache-control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(asset.header("access-control-allow-origin"), "*");
  auto again = c.request("GET", "/assets/app.3f2a9c1e.js", {},
                         "If-None-Match: " + asset.header("etag") + "\r\n");
  EXPECT_EQ(again.status, 304u);
  EXPECT_EQ(again.header("cache-control"), "public, max-age=31536000, immutable");
  std::filesystem::remove_all(dir);
}

// A CDN edge's fetch for its cache (Ztm-Edge-Fetch, from a trusted proxy) reads past the
// origin's caches (docs/cdn.md, "The origin's own caches"): after a write this server's L1 was
// not told of (another web server's), the edge gets the new version at once, clients the L1
// copy; from an untrusted peer the header changes nothing.
// The ETag a cached user document gets is made from the hash its value computed once
// (cache::CachedValue::digest), without fmt; it must stay byte for byte what the first servers
// sent (fmt over FNV-1a from offset 1469598103934665603), or every client's and edge's copy
// would stop revalidating after an upgrade.
TEST(DocumentEtag, IsTheTagEarlierServersSent) {
  const auto earlier = [](std::int64_t version, std::string_view bytes) {
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char ch : bytes) h = (h ^ ch) * 1099511628211ULL;
    return fmt::format("\"{}-{:016x}\"", version, h);
  };
  for (const auto& [version, bytes] : std::vector<std::pair<std::int64_t, std::string>>{
           {1, R"({"id":12,"firstName":"John"})"},
           {0, ""},
           {42, std::string(5000, 'x')},
           {std::numeric_limits<std::int64_t>::max(), "a"},
           {-7, "negative versions never happen; the format still holds"}}) {
    const cache::CachedValue value(bytes, version);
    EXPECT_EQ(api::DocumentEtag(value.version, value.digest).view(), earlier(version, bytes));
  }
  EXPECT_EQ(api::DocumentEtag(1, tag_hash64(R"({"a":1})")).view(),
            api::DocumentEtag(1, tag_hash64(R"({"a":1})")).view());
  EXPECT_NE(api::DocumentEtag(1, tag_hash64("a")).view(),
            api::DocumentEtag(2, tag_hash64("a")).view());
}

TEST(CachePolicy, AnEdgeFetchReadsPastTheOriginsCachesOnlyFromATrustedProxy) {
  for (const bool trusted : {true, false}) {
    TestServer server([trusted](Config& c) {
      c.cache.enabled = true;
      if (trusted) c.http.trusted_proxies = "127.0.0.1";
    });
    HttpClient c(server.port());
    const auto before = c.request("GET", "/users/12");
    ASSERT_EQ(before.status, 200u);
    auto stored = run_sync(server.store().get_user(12));
    ASSERT_TRUE(stored.ok());
    storage::User changed = stored->user;
    changed.last_name = "Written-Elsewhere";
    ASSERT_TRUE(run_sync(server.store().update_user(changed, std::nullopt)).ok());
    EXPECT_EQ(c.request("GET", "/users/12").header("etag"), before.header("etag"))
        << "a client's read: this server's L1 copy";
    const auto edge = c.request("GET", "/users/12", {}, "Ztm-Edge-Fetch: 1\r\n");
    ASSERT_EQ(edge.status, 200u);
    // Our edges' headers go to an edge's fetch only; from anyone else the header is a client's.
    EXPECT_EQ(edge.header("surrogate-key"), trusted ? "user-12" : "");
    EXPECT_EQ(edge.header("cdn-cache-control").empty(), !trusted);
    if (trusted) {
      EXPECT_NE(edge.header("etag"), before.header("etag")) << "trusted: " << trusted;
      EXPECT_NE(edge.body.find("Written-Elsewhere"), std::string::npos);
      const auto page = c.request("GET", "/users?limit=100", {}, "Ztm-Edge-Fetch: 1\r\n");
      EXPECT_NE(page.body.find("Written-Elsewhere"), std::string::npos);
    } else {
      EXPECT_EQ(edge.header("etag"), before.header("etag")) << "untrusted: the header is ignored";
    }
  }
}

}  // namespace
}  // namespace ztm
