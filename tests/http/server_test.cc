// The web tier end to end: the real server on port 0, real sockets, a real SQLite database.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "app/demo_data.h"
#include "tests/support/http_client.h"
#include "tests/support/test_server.h"

namespace ztm {
namespace {
using test::eventually;
using test::HttpClient;
using test::Reply;
using test::TestServer;
namespace json = boost::json;

constexpr const char* kJohn =
    R"({"id":12,"firstName":"John","lastName":"Smith","address":{"streetAddress":"21 2nd Street","city":"New York","state":"NY","postalCode":10021},"phoneNumbers":["212 555-1234","646 555-4567"]})";
// GET /users/12: the chapter's document and the user's follow counts (app/user_json.h).
constexpr const char* kJohnDocument =
    R"({"id":12,"firstName":"John","lastName":"Smith","address":{"streetAddress":"21 2nd Street","city":"New York","state":"NY","postalCode":10021},"phoneNumbers":["212 555-1234","646 555-4567"],"followers":0,"following":0})";
constexpr const char* kNewUser =
    R"({"firstName":"Ada","lastName":"Lovelace","address":{"streetAddress":"1 St James's Square","city":"London","state":"LDN","postalCode":12345},"phoneNumbers":["+44 20 7946 0000"]})";

void expect_error(const Reply& r, unsigned status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  const auto v = json::parse(r.body);
  EXPECT_EQ(v.at("error").at("code").as_string(), code) << r.body;
  EXPECT_FALSE(v.at("error").at("message").as_string().empty());
}

class ServerTest : public ::testing::Test {
 protected:
  TestServer server;
};

TEST_F(ServerTest, GetUser12ReturnsTheChaptersJson) {
  HttpClient c(server.port());
  auto r = c.request("GET", "/users/12");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, kJohnDocument);
  EXPECT_EQ(r.header("content-type"), "application/json");
  // "<version>-<hash of the body>" (api/cache_policy.h): the counts change under one version.
  EXPECT_TRUE(r.header("etag").starts_with("\"1-")) << r.header("etag");
  EXPECT_FALSE(r.header("date").empty());
  EXPECT_EQ(r.header("x-request-id").size(), 16u);
  // Revalidation: the same ETag gets 304 without a body.
  auto again = c.request("GET", "/users/12", {}, "If-None-Match: " + r.header("etag") + "\r\n");
  EXPECT_EQ(again.status, 304u);
  EXPECT_TRUE(again.body.empty());
  // The version alone names no document of ours.
  EXPECT_EQ(c.request("GET", "/users/12", {}, "If-None-Match: \"1\"\r\n").status, 200u);
}

TEST_F(ServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  HttpClient c(server.port());
  for (int i = 0; i < 50; ++i) {
    auto r = c.request("GET", "/users/12");
    ASSERT_EQ(r.status, 200u);
    ASSERT_TRUE(r.keep_alive);
  }
}

// A client that half-closes after its request (nc -N, a script) gets its answer and the server
// closes then, not at the idle timeout: the FIN came with the request, in one event, and the
// read that took the request saw it too (http/ready_read.h).
TEST_F(ServerTest, AClientThatHalfClosesAfterItsRequestIsAnsweredAndClosed) {
  HttpClient c(server.port());
  c.send("GET /users/12 HTTP/1.1\r\nHost: t\r\n\r\n");
  ::shutdown(c.native_handle(), SHUT_WR);
  EXPECT_EQ(c.read().status, 200u);
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_TRUE(eventually([&] { return server.server().connections() == 0; }));
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  HttpClient c(server.port());
  std::string batch;
  const std::vector<int> ids = {1, 12, 3, 999, 5, 12, 7, 8, 9, 10, 11, 13};
  for (int id : ids) batch += "GET /users/" + std::to_string(id) + " HTTP/1.1\r\nHost: t\r\n\r\n";
  c.send(batch);
  for (int id : ids) {
    auto r = c.read();
    if (id == 999) {
      expect_error(r, 404, "not_found");
    } else {
      ASSERT_EQ(r.status, 200u);
      EXPECT_EQ(json::parse(r.body).at("id").as_int64(), id);
    }
  }
}

TEST_F(ServerTest, PostWithAnIdempotencyKeyCreatesOneUser) {
  HttpClient c(server.port());
  c.authorize(server.admin_token());
  auto first = c.request("POST", "/users", kNewUser, "Idempotency-Key: order-42\r\n");
  ASSERT_EQ(first.status, 201u) << first.body;
  auto again = c.request("POST", "/users", kNewUser, "Idempotency-Key: order-42\r\n");
  ASSERT_EQ(again.status, 201u) << again.body;
  EXPECT_EQ(again.header("location"), first.header("location"));
  EXPECT_EQ(again.body, first.body);
  auto other = c.request("POST", "/users", kNewUser, "Idempotency-Key: order-43\r\n");
  ASSERT_EQ(other.status, 201u) << other.body;
  EXPECT_NE(other.header("location"), first.header("location"));
  expect_error(
      c.request("POST", "/users", kNewUser, "Idempotency-Key: " + std::string(201, 'k') + "\r\n"),
      400, "invalid_header");
  expect_error(c.request("POST", "/users", kNewUser, "Idempotency-Key: two words\r\n"), 400,
               "invalid_header");
}

TEST_F(ServerTest, ReadsAcceptAPositionAndRejectAMalformedOne) {
  HttpClient c(server.port());
  c.authorize(server.admin_token());
  // SQLite reports no positions (every read sees every write), so writes carry no header; a read
  // with a position is served past the cache, as fresh as the store.
  auto created = c.request("POST", "/users", kNewUser);
  ASSERT_EQ(created.status, 201u) << created.body;
  EXPECT_EQ(created.header("x-ztm-position"), "");
  const auto location = created.header("location");
  auto got = c.request("GET", location, {}, "X-Ztm-Position: 0/16B3748\r\n");
  EXPECT_EQ(got.status, 200u) << got.body;
  EXPECT_TRUE(got.header("etag").starts_with("\"1-")) << got.header("etag");
  EXPECT_EQ(c.request("GET", "/users?limit=5", {}, "X-Ztm-Position: 0/1\r\n").status, 200u);
  // A sharded data tier's position names its shard (storage/sharding/sharded_store.h).
  EXPECT_EQ(c.request("GET", location, {}, "X-Ztm-Position: 1:0/16B3748\r\n").status, 200u);
  expect_error(c.request("GET", location, {}, "X-Ztm-Position: not a position\r\n"), 400,
               "invalid_header");
}

TEST_F(ServerTest, CrudLifecycleWithEtagsAndLocation) {
  HttpClient c(server.port());
  c.authorize(server.admin_token());
  auto created = c.request("POST", "/users", kNewUser);
  ASSERT_EQ(created.status, 201u) << created.body;
  const auto location = created.header("location");
  ASSERT_TRUE(location.starts_with("/users/"));
  const auto id = json::parse(created.body).at("id").as_int64();
  EXPECT_EQ(location, "/users/" + std::to_string(id));
  EXPECT_GT(id, 21);
  EXPECT_LE(id, (std::int64_t{1} << 53) - 1);
  EXPECT_TRUE(created.header("etag").starts_with("\"1-")) << created.header("etag");
  EXPECT_EQ(json::parse(created.body).at("followers"), 0);

  auto got = c.request("GET", location);
  EXPECT_EQ(got.status, 200u);
  EXPECT_EQ(json::parse(got.body).at("firstName").as_string(), "Ada");

  // PUT with a stale ETag fails; with the current one succeeds (If-Match compares the version:
  // "1" as much as the document's "1-<hash>").
  std::string replaced =
      R"({"firstName":"Augusta","lastName":"King","address":{"streetAddress":"x","city":"y","state":"z","postalCode":1}})";
  expect_error(c.request("PUT", location, replaced, "If-Match: \"7\"\r\n"), 412,
               "precondition_failed");
  auto put = c.request("PUT", location, replaced, "If-Match: \"1\"\r\n");
  EXPECT_EQ(put.status, 200u) << put.body;
  EXPECT_TRUE(put.header("etag").starts_with("\"2-")) << put.header("etag");
  EXPECT_EQ(json::parse(c.request("GET", location).body).at("firstName").as_string(), "Augusta");

  auto patch = c.request("PATCH", location, R"({"address":{"city":"Paris"},"phoneNumbers":null})",
                         "If-Match: \"2\"\r\n", "application/merge-patch+json");
  ASSERT_EQ(patch.status, 200u) << patch.body;
  const auto patched = json::parse(patch.body);
  EXPECT_EQ(patched.at("address").at("city").as_string(), "Paris");
  EXPECT_EQ(patched.at("address").at("streetAddress").as_string(), "x");
  EXPECT_TRUE(patched.at("phoneNumbers").as_array().empty());

  expect_error(c.request("DELETE", location, {}, "If-Match: \"2\"\r\n"), 412,
               "precondition_failed");
  auto del = c.request("DELETE", location, {}, "If-Match: \"3\"\r\n");
  EXPECT_EQ(del.status, 204u);
  EXPECT_TRUE(del.body.empty());
  expect_error(c.request("GET", location), 404, "not_found");
  expect_error(c.request("DELETE", location), 404, "not_found");
}

TEST_F(ServerTest, ListUsesCursorPagination) {
  HttpClient c(server.port());
  std::vector<std::int64_t> seen;
  std::string next = "/users?limit=7";
  for (int pages = 0; pages < 10 && !next.empty(); ++pages) {
    auto r = c.request("GET", next);
    ASSERT_EQ(r.status, 200u) << r.body;
    const auto v = json::parse(r.body);
    for (const auto& u : v.at("users").as_array()) seen.push_back(u.at("id").as_int64());
    next = v.at("next").is_null() ? "" : std::string(v.at("next").as_string());
  }
  EXPECT_EQ(seen.size(), 22u);  // the demo data: 21 users and the demo admin
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_TRUE(next.empty());
  expect_error(c.request("GET", "/users?limit=1000"), 400, "invalid_parameter");
  expect_error(c.request("GET", "/users?limit=0"), 400, "invalid_parameter");
  expect_error(c.request("GET", "/users?after=-1"), 400, "invalid_parameter");
  expect_error(c.request("GET", "/users?after=abc"), 400, "invalid_parameter");
}

TEST_F(ServerTest, ChunkedRequestBodyIsAccepted) {
  HttpClient c(server.port());
  const std::string body = kNewUser;
  const std::string a = body.substr(0, 40), b = body.substr(40);
  char sizes[64];
  std::snprintf(sizes, sizeof sizes, "%zx", a.size());
  std::string raw =
      "POST /users HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
      "Authorization: Bearer " +
      server.admin_token() + "\r\nTransfer-Encoding: chunked\r\n\r\n";
  raw += std::string(sizes) + "\r\n" + a + "\r\n";
  std::snprintf(sizes, sizeof sizes, "%zx", b.size());
  raw += std::string(sizes) + "\r\n" + b + "\r\n0\r\n\r\n";
  c.send(raw);
  auto r = c.read();
  EXPECT_EQ(r.status, 201u) << r.body;
}

TEST_F(ServerTest, ExpectContinueGets100First) {
  HttpClient c(server.port());
  const std::string body = kNewUser;
  c.send(
      "POST /users HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nAuthorization: "
      "Bearer " +
      server.admin_token() +
      "\r\nExpect: 100-continue\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n");
  EXPECT_EQ(c.read().status, 100u);
  c.send(body);
  EXPECT_EQ(c.read().status, 201u);
}

TEST_F(ServerTest, BadInputGetsClearJsonErrors) {
  HttpClient c(server.port());
  c.authorize(server.admin_token());
  expect_error(c.request("GET", "/nope"), 404, "not_found");
  auto wrong_method = c.request("POST", "/users/12", "{}");
  expect_error(wrong_method, 405, "method_not_allowed");
  EXPECT_EQ(wrong_method.header("allow"), "GET, HEAD, PUT, PATCH, DELETE");
  expect_error(c.request("GET", "/users/abc"), 404, "not_found");
  expect_error(c.request("GET", "/users/9007199254740992"), 404, "not_found");  // 2^53
  expect_error(c.request("GET", "/users/-5"), 404, "not_found");
  expect_error(c.request("POST", "/users", "{\"firstName\":"), 400, "invalid_json");
  expect_error(c.request("POST", "/users", "\xff\xfe"), 400, "invalid_json");
  expect_error(c.request("POST", "/users", kNewUser, {}, "text/plain"), 415,
               "unsupported_media_type");
  expect_error(c.request("POST", "/users", R"({"firstName":"A"})"), 422, "validation_failed");
  expect_error(c.request("POST", "/users", kJohn), 422, "validation_failed");  // id is read-only
  expect_error(c.request("PATCH", "/users/12", "[1]"), 422, "validation_failed");
  expect_error(
      c.request(
          "PUT", "/users/424242",
          R"({"firstName":"A","lastName":"B","address":{"streetAddress":"s","city":"c","state":"s","postalCode":1}})"),
      404, "not_found");
  std::string deep(40, '[');
  deep += std::string(40, ']');
  expect_error(c.request("POST", "/users", deep), 400, "invalid_json");
  // The connection survived every one of these.
  EXPECT_EQ(c.request("GET", "/users/12").status, 200u);
}

TEST_F(ServerTest, MalformedHttpIs400AndCloses) {
  HttpClient c(server.port());
  c.send("GARBAGE\r\n\r\n");
  expect_error(c.read(), 400, "bad_request");
  EXPECT_TRUE(c.closed_by_peer());
  HttpClient d(server.port());
  d.send("GET /users/12 HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n");
  expect_error(d.read(), 400, "bad_request");
}

// A head read in several pieces (beyond the first read's 2 KiB) and a body grow the read buffer;
// it is given back before the connection waits again, and the connection goes on serving.
TEST_F(ServerTest, LargeHeadsAndBodiesLeaveTheConnectionUsable) {
  HttpClient c(server.port());
  const std::string big(7000, 'a');  // under the 8 KiB head limit, over the first read
  c.send("GET /users/12 HTTP/1.1\r\nHost: t\r\nX-Big: " + big.substr(0, 3000));
  c.send(big.substr(3000) + "\r\n\r\n");
  ASSERT_EQ(c.read().status, 200u);
  auto created = c.request("POST", "/users", R"({"name":")" + std::string(40000, 'n') + R"("})");
  EXPECT_EQ(created.status, 401u) << created.body;  // refused, its 40 KB body read and dropped
  for (int i = 0; i < 3; ++i) {
    auto r = c.request("GET", "/users/12");
    ASSERT_EQ(r.status, 200u);
    ASSERT_TRUE(r.keep_alive);
  }
}

TEST_F(ServerTest, OversizedHeadersAre431AndBodiesAre413) {
  HttpClient c(server.port());
  c.send("GET /users/12 HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  expect_error(c.read(), 431, "headers_too_large");
  EXPECT_TRUE(c.closed_by_peer());

  HttpClient d(server.port());
  auto r = d.request("POST", "/users", std::string(100 * 1024, ' '));
  expect_error(r, 413, "body_too_large");

  HttpClient e(server.port());
  std::string chunk(60 * 1024, ' ');
  std::string raw =
      "POST /users HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: "
      "chunked\r\n\r\n";
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
  raw += size + chunk + "\r\n" + size + chunk + "\r\n0\r\n\r\n";
  e.send(raw);
  expect_error(e.read(), 413, "body_too_large");
}

TEST_F(ServerTest, HeadHasHeadersButNoBody) {
  HttpClient c(server.port());
  auto r = c.request("HEAD", "/users/12");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("content-length"), std::to_string(std::string(kJohnDocument).size()));
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(c.request("GET", "/users/12").body, kJohnDocument);  // the stream is still in sync
}

TEST_F(ServerTest, RequestIdIsEchoedWhenSafeAndReplacedOtherwise) {
  HttpClient c(server.port());
  EXPECT_EQ(c.request("GET", "/users/12", {}, "X-Request-Id: abc-123.x\r\n").header("x-request-id"),
            "abc-123.x");
  const auto replaced =
      c.request("GET", "/users/12", {}, "X-Request-Id: <script>\r\n").header("x-request-id");
  EXPECT_EQ(replaced.size(), 16u);
  EXPECT_EQ(replaced.find_first_not_of("0123456789abcdef"), std::string::npos) << replaced;
  // Ours: the process's prefix (8 hex digits), then a counter: the next request's is the next.
  const auto next = c.request("GET", "/users/12").header("x-request-id");
  ASSERT_EQ(next.size(), 16u);
  EXPECT_EQ(next.substr(0, 8), replaced.substr(0, 8));
  EXPECT_EQ(std::stoull(next.substr(8), nullptr, 16),
            std::stoull(replaced.substr(8), nullptr, 16) + 1);
  const std::string longest(128, 'a');
  EXPECT_EQ(
      c.request("GET", "/users/12", {}, "X-Request-Id: " + longest + "\r\n").header("x-request-id"),
      longest);
  EXPECT_EQ(c.request("GET", "/users/12", {}, "X-Request-Id: " + longest + "b\r\n")
                .header("x-request-id")
                .size(),
            16u);  // 129 characters: replaced
}

TEST_F(ServerTest, HealthAndReadiness) {
  HttpClient c(server.port());
  EXPECT_EQ(c.request("GET", "/healthz").status, 200u);
  EXPECT_EQ(c.request("GET", "/readyz").status, 200u);
  server.start_draining();
  expect_error(c.request("GET", "/readyz"), 503, "draining");
  EXPECT_EQ(c.request("GET", "/healthz").status, 200u);  // alive, just not ready
}

TEST_F(ServerTest, MetricsPassPromtoolAndCountRequests) {
  HttpClient c(server.port());
  c.request("GET", "/users/12");
  c.request("GET", "/users/12");
  c.request("GET", "/nope");
  auto r = c.request("GET", "/metrics");
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(
      r.body.find(R"(ztm_http_requests_total{method="GET",route="/users/{id}",code="200"} 2)"),
      std::string::npos)
      << r.body;
  EXPECT_NE(
      r.body.find(R"(ztm_http_requests_total{method="other",route="unmatched",code="404"} 1)"),
      std::string::npos);
  EXPECT_NE(r.body.find("ztm_http_request_duration_seconds_bucket"), std::string::npos);

  char path[] = "/tmp/ztm-metrics-XXXXXX";
  close(mkstemp(path));
  std::ofstream(path) << r.body;
  const int status =
      std::system(("promtool check metrics < " + std::string(path) + " 2>&1").c_str());
  std::remove(path);
  EXPECT_EQ(status, 0) << "promtool check metrics rejected the output";
}

TEST(ServerLimits, SlowClientIsCutOffAtTheHeaderTimeout) {
  TestServer server([](Config& c) { c.http.threads = 1, c.http.header_timeout_ms = 300; });
  HttpClient c(server.port());
  const auto start = std::chrono::steady_clock::now();
  c.send("GET /users/12 HTTP/1.1\r\nHost: t\r\n");  // ...and never the final CRLF
  EXPECT_TRUE(c.closed_by_peer());
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::seconds(5));
}

// A body has body_timeout to arrive plus 1 s per body_min_rate bytes: a login padded to 40,000
// bytes, sent at twice the minimum rate, takes twice the body timeout and is answered; the same
// body trickled at a tenth of it is cut soon after the body timeout.
class PacedLogin {
 public:
  static constexpr std::size_t kBody = 40'000;
  PacedLogin() {
    body_ = std::string(R"({"email":")") + app::kDemoUserEmail + R"(","password":")" +
            app::kDemoUserPassword + R"("})";
    body_.resize(kBody, ' ');  // JSON allows trailing whitespace
    client_.send(
        "POST /sessions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(kBody) + "\r\n\r\n");
  }
  // Sends the body `piece` bytes every 50 ms, for at most 5 s; false when the server closed the
  // connection under the writes.
  bool send_paced(std::size_t piece) {
    try {
      for (std::size_t at = 0; at < kBody && elapsed() < std::chrono::seconds(5); at += piece) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        client_.send(std::string_view(body_).substr(at, piece));
      }
      return true;
    } catch (const boost::system::system_error&) {
      return false;
    }
  }
  std::chrono::steady_clock::duration elapsed() const {
    return std::chrono::steady_clock::now() - start_;
  }
  TestServer& server() { return server_; }
  HttpClient& client() { return client_; }

 private:
  TestServer server_{[](Config& c) {
    c.http.threads = 1, c.http.body_timeout_ms = 500, c.http.body_min_rate = 20'000;
  }};
  HttpClient client_{server_.port()};
  std::string body_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

TEST(ServerLimits, ASlowButSteadyBodyIsReadPastTheBodyTimeout) {
  PacedLogin login;
  ASSERT_TRUE(login.send_paced(2'000));  // 40 kB/s: twice the minimum rate
  const auto r = login.client().read();
  EXPECT_EQ(r.status, 201u) << r.body;
  EXPECT_GT(login.elapsed(), std::chrono::milliseconds(900))
      << "the body took longer than the 500 ms body timeout to send";
}

TEST(ServerLimits, ABodyTrickledBelowTheMinimumRateIsCut) {
  PacedLogin login;
  const bool sent = login.send_paced(100);  // 2 kB/s: a tenth of the minimum rate
  EXPECT_TRUE(!sent || login.client().closed_by_peer());
  // Cut after 0.5 s plus 1 s per 20,000 bytes received (about 0.55 s), well before the 20 s
  // the trickle would take; never before the body timeout.
  EXPECT_GE(login.elapsed(), std::chrono::milliseconds(450));
  EXPECT_LT(login.elapsed(), std::chrono::seconds(5));
  EXPECT_TRUE(eventually([&] { return login.server().server().connections() == 0; }));
}

TEST(ServerLimits, IdleKeepAliveConnectionIsClosed) {
  TestServer server([](Config& c) {
    c.http.threads = 1, c.http.idle_timeout_ms = 300, c.http.header_timeout_ms = 300;
  });
  HttpClient c(server.port());
  EXPECT_EQ(c.request("GET", "/healthz").status, 200u);
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_TRUE(eventually([&] { return server.server().connections() == 0; }));
}

TEST(ServerLimits, ConnectionsBeyondTheLimitGet503) {
  TestServer server([](Config& c) { c.http.threads = 1, c.http.max_connections = 2; });
  HttpClient a(server.port()), b(server.port());
  ASSERT_EQ(a.request("GET", "/healthz").status, 200u);
  ASSERT_EQ(b.request("GET", "/healthz").status, 200u);
  HttpClient c(server.port());
  auto r = c.read();
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(json::parse(r.body).at("error").at("code").as_string(), "too_many_connections");
  EXPECT_EQ(server.server().refused_connections(), 1u);
}

TEST(ServerShutdown, DrainFinishesInFlightRequestsAndRefusesNewConnections) {
  TestServer server;
  HttpClient idle(server.port());
  ASSERT_EQ(idle.request("GET", "/healthz").status, 200u);

  server.gate().close_gate();
  HttpClient busy(server.port());
  busy.send("GET /users/12 HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(eventually([&] { return server.gate().waiting() == 1; }));
  EXPECT_EQ(server.server().in_flight(), 1);

  server.server().drain();
  EXPECT_TRUE(idle.closed_by_peer()) << "idle keep-alive connections are closed on drain";
  EXPECT_TRUE(eventually([&] {
    try {
      HttpClient probe(server.port());
      return false;  // still accepting
    } catch (const boost::system::system_error&) {
      return true;
    }
  }));

  server.gate().open_gate();
  auto r = busy.read();
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, kJohnDocument);
  EXPECT_FALSE(r.keep_alive) << "a response during drain closes its connection";
  EXPECT_TRUE(eventually([&] { return server.server().connections() == 0; }));
}

TEST(StaticFiles, ServedWithEtagAndRevalidation) {
  char dir[] = "/tmp/ztm-static-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::ofstream(std::string(dir) + "/index.html") << "<h1>ztm</h1>";
  TestServer server([&](Config& c) { c.http.static_dir = dir; });
  HttpClient c(server.port());
  auto r = c.request("GET", "/");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "<h1>ztm</h1>");
  EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(r.header("content-security-policy"),
            "default-src 'self'; img-src 'self' blob: data:; frame-ancestors 'none'");
  EXPECT_EQ(c.request("GET", "/", {}, "If-None-Match: " + r.header("etag") + "\r\n").status, 304u);
  expect_error(c.request("GET", "/missing.js"), 404, "not_found");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ztm

namespace ztm {
namespace {

// Garbage, truncated requests and random mutations of a valid one: each gets a 4xx or a closed
// connection — never a 5xx, a crash or a hang — and the server keeps serving.
TEST(ServerRobustness, RandomAndMutatedInputNeverBreaksTheServer) {
  test::TestServer server([](Config& c) { c.http.header_timeout_ms = 200; });
  // Authorized as the owner, so mutations reach the body's parsing, not only the 401.
  const std::string valid =
      "PUT /users/12 HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nAuthorization: "
      "Bearer " +
      server.user_token() +
      "\r\nContent-Length: 45\r\n\r\n"
      R"({"firstName":"A","lastName":"B","address":{}})";
  std::mt19937 rng(12345);  // fixed seed: a failure reproduces
  for (int round = 0; round < 300; ++round) {
    std::string input = valid;
    const int kind = round % 3;
    if (kind == 0) {  // random bytes
      input.resize(rng() % 300);
      for (auto& ch : input) ch = static_cast<char>(rng());
    } else if (kind == 1) {  // a truncated request, then the client half-closes
      input.resize(rng() % valid.size());
    } else {  // a few random byte flips
      for (int i = 0; i < 3; ++i) input[rng() % input.size()] = static_cast<char>(rng());
    }
    test::HttpClient c(server.port(), std::chrono::milliseconds(3000));
    c.send(input);
    if (kind == 1) ::shutdown(c.native_handle(), SHUT_WR);
    try {
      const auto r = c.read();
      EXPECT_LT(r.status, 500u) << "round " << round;
      EXPECT_GE(r.status, 200u) << "round " << round;
    } catch (const boost::system::system_error&) {
      // The server closed the connection (or the response was cut): acceptable for garbage.
    }
  }
  test::HttpClient c(server.port());
  EXPECT_EQ(c.request("GET", "/users/12").status, 200u);
  EXPECT_TRUE(test::eventually([&] { return server.server().connections() == 1; }));
}

}  // namespace
}  // namespace ztm
