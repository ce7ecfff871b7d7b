#include "http/router.h"

#include <gtest/gtest.h>

namespace ztm::http {
namespace {

boost::asio::awaitable<Response> ok(Request&) {
  co_return Response{};
}

Request make(Verb verb, std::string_view path) {
  Request r;
  r.msg.method(verb);
  r.path = path;
  return r;
}

TEST(Router, MatchesLiteralsAndPlaceholders) {
  Router router;
  router.add(Verb::get, "/users", ok);
  router.add(Verb::get, "/users/{id}", ok);
  router.add(Verb::put, "/users/{id}", ok);
  auto r = make(Verb::get, "/users/12");
  auto m = router.match(r);
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(r.params[0], "12");
  EXPECT_EQ(r.route, "/users/{id}");
  EXPECT_EQ(m.endpoint, 1);
  auto l = make(Verb::get, "/users");
  EXPECT_EQ(router.match(l).endpoint, 0);
  EXPECT_EQ(router.endpoints().size(), 3u);
}

TEST(Router, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  Router router;
  router.add(Verb::get, "/users/{id}", ok);
  router.add(Verb::delete_, "/users/{id}", ok);
  for (auto path : {"/nope", "/users/12/x", "/users/", "/users", "", "users/1"}) {
    auto r = make(Verb::get, path);
    EXPECT_EQ(router.match(r).status, 404u) << path;
  }
  auto r = make(Verb::post, "/users/12");
  const auto m = router.match(r);
  EXPECT_EQ(m.handler, nullptr);
  EXPECT_EQ(m.status, 405u);
  EXPECT_EQ(m.allow, "GET, HEAD, DELETE");
}

TEST(Router, HeadFallsBackToGet) {
  Router router;
  router.add(Verb::get, "/healthz", ok);
  auto r = make(Verb::head, "/healthz");
  EXPECT_NE(router.match(r).handler, nullptr);
}

TEST(Router, RejectsDuplicatesAndBadPatterns) {
  Router router;
  router.add(Verb::get, "/a", ok);
  EXPECT_THROW(router.add(Verb::get, "/a", ok), std::invalid_argument);
  EXPECT_THROW(router.add(Verb::get, "a", ok), std::invalid_argument);
  EXPECT_THROW(router.add(Verb::get, "/{a}/{b}/{c}", ok), std::invalid_argument);
  EXPECT_THROW(router.add(Verb::get, "/1/2/3/4/5/6/7/8/9", ok), std::invalid_argument);
}

// The path is split once, into at most Router::kMaxSegments segments: a longer one matches no
// route (however long: the split stops there), the longest allowed still matches.
TEST(Router, APathLongerThanAnyRouteIs404) {
  Router router;
  router.add(Verb::get, "/1/2/3/4/5/6/7/{x}", ok);
  auto longest = make(Verb::get, "/1/2/3/4/5/6/7/8");
  EXPECT_NE(router.match(longest).handler, nullptr);
  EXPECT_EQ(longest.params[0], "8");
  std::string path;
  for (int i = 0; i < 10'000; ++i) path += "/1";
  for (std::string_view p : {std::string_view("/1/2/3/4/5/6/7/8/"), std::string_view(path)}) {
    auto r = make(Verb::get, p);
    EXPECT_EQ(router.match(r).status, 404u) << p.substr(0, 40);
  }
}

}  // namespace
}  // namespace ztm::http
