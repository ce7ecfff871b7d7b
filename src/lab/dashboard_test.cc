#include "lab/dashboard.h"

#include <gtest/gtest.h>

#include "lab/http_listener.h"

namespace ztm::lab {
namespace {

using Kind = DashboardRoute::Kind;

Kind kind(std::string_view line) {
  return route_dashboard(line).kind;
}

TEST(DashboardRoute, ThePageItsFilesAndItsApis) {
  EXPECT_EQ(route_dashboard("GET / HTTP/1.1").target, "index.html");
  const auto asset = route_dashboard("GET /assets/dashboard.0123456789ab.js HTTP/1.1");
  EXPECT_EQ(asset.kind, Kind::file);
  EXPECT_EQ(asset.target, "assets/dashboard.0123456789ab.js");
  EXPECT_EQ(kind("GET /api/status HTTP/1.1"), Kind::status);
  EXPECT_EQ(kind("GET /healthz HTTP/1.0"), Kind::health);
}

TEST(DashboardRoute, PassesOnOnlyPrometheusQueries) {
  const auto q = route_dashboard("GET /api/v1/query_range?query=up&start=1&end=2&step=5 HTTP/1.1");
  EXPECT_EQ(q.kind, Kind::prometheus);
  EXPECT_EQ(q.target, "/api/v1/query_range?query=up&start=1&end=2&step=5");
  EXPECT_EQ(kind("GET /api/v1/query?query=sum(rate(x%5B1m%5D)) HTTP/1.1"), Kind::prometheus);
  for (const char* other : {"GET /api/v1/admin/tsdb/delete_series HTTP/1.1",
                            "GET /api/v1/targets HTTP/1.1", "GET /api/v1/query/../admin HTTP/1.1",
                            "GET /api/v1/label/__name__/values HTTP/1.1", "GET /-/quit HTTP/1.1"})
    EXPECT_NE(kind(other), Kind::prometheus) << other;
  EXPECT_EQ(kind("POST /api/v1/query HTTP/1.1"), Kind::bad_method);
  EXPECT_EQ(kind("DELETE /api/status HTTP/1.1"), Kind::bad_method);
}

TEST(DashboardRoute, RefusesTraversalAndOddPaths) {
  for (const char* line :
       {"GET /../etc/passwd HTTP/1.1", "GET /assets/../../etc/passwd HTTP/1.1",
        "GET /%2e%2e/etc/passwd HTTP/1.1", "GET /assets/..%2fx HTTP/1.1",
        "GET //etc/passwd HTTP/1.1", "GET /assets//x.js HTTP/1.1", "GET /.git/config HTTP/1.1",
        "GET /assets\\x.js HTTP/1.1", "GET /assets/ HTTP/1.1", "GET http://evil/ HTTP/1.1",
        "GET * HTTP/1.1", "GET /a\tb HTTP/1.1", "GET / SPDY/3", "GET /", "", "GARBAGE"})
    EXPECT_EQ(kind(line), Kind::bad_request) << line;
}

TEST(DashboardRoute, UnknownPathsAreNotFoundOrMissingFiles) {
  EXPECT_EQ(kind("GET /api/other HTTP/1.1"), Kind::not_found);
  // A file route names a file that may not exist: the server answers 404 when it does not.
  EXPECT_EQ(route_dashboard("GET /no-such-file.js HTTP/1.1").target, "no-such-file.js");
}

TEST(HttpListener, FormatsAClosedAnswerWithItsLength) {
  const std::string reply =
      format_reply({.status = 404, .body = "not found\n", .headers = {{"Allow", "GET"}}});
  EXPECT_EQ(reply,
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 10\r\nAllow: GET\r\nConnection: close\r\n\r\nnot found\n");
  EXPECT_EQ(request_line_of("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "GET / HTTP/1.1");
  EXPECT_EQ(request_line_of("GET / HTTP/1.1"), "");  // no end of line within the bound
}

}  // namespace
}  // namespace ztm::lab
