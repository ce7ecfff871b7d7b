#include "http/message.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace ztm::http {
namespace {

TEST(Message, SerializesStatusHeadersAndBody) {
  Response res;
  res.status = 201;
  res.body = R"({"a":1})";
  res.header("Location", "/users/5");
  std::string out;
  serialize(res, "Tue, 24 Nov 2026 10:00:00 GMT", true, false, out);
  EXPECT_EQ(
      out,
      "HTTP/1.1 201 Created\r\nServer: ztm\r\nX-Content-Type-Options: nosniff\r\nDate: Tue, 24 Nov "
      "2026 10:00:00 GMT\r\n"
      "Content-Type: application/json\r\nContent-Length: 7\r\nLocation: /users/5\r\n\r\n{\"a\":1}");
}

TEST(Message, NoBodyFor204AndHeadAndCloseWhenAsked) {
  Response res;
  res.status = 204;
  std::string out;
  serialize(res, "D", false, false, out);
  EXPECT_EQ(out,
            "HTTP/1.1 204 No Content\r\nServer: ztm\r\nX-Content-Type-Options: nosniff\r\nDate: "
            "D\r\nConnection: close\r\n\r\n");
  Response get;
  get.body = "hello";
  out.clear();
  serialize(get, "D", true, /*head=*/true, out);
  EXPECT_NE(out.find("Content-Length: 5\r\n"), std::string::npos);
  EXPECT_TRUE(out.ends_with("\r\n\r\n"));
}

TEST(Message, HeadersGoOutInOrderAndAreFoundByName) {
  Response res;
  res.header("ETag", "\"1-ab\"").header("Cache-Control", "no-cache").header("Cache", "x");
  EXPECT_EQ(res.header_lines(), "ETag: \"1-ab\"\r\nCache-Control: no-cache\r\nCache: x\r\n");
  EXPECT_EQ(res.header("Cache-Control"), "no-cache");
  EXPECT_EQ(res.header("Cache"), "x");  // a name that is another's prefix is not confused
  EXPECT_EQ(res.header("ETag"), "\"1-ab\"");
  EXPECT_EQ(res.header("Control"), "");
  EXPECT_EQ(Response{}.header("ETag"), "");
  Response moved = std::move(res);  // header lines move with the response
  EXPECT_EQ(moved.header("Cache"), "x");
  EXPECT_EQ(res.header_lines(), "");  // NOLINT(bugprone-use-after-move): none left behind
  res.header("Age", "1");             // and a moved-from response takes new ones
  EXPECT_EQ(res.header_lines(), "Age: 1\r\n");
  Response copy = moved;
  copy.header("Age", "2");  // a copy has lines of its own
  EXPECT_EQ(copy.header_lines(),
            "ETag: \"1-ab\"\r\nCache-Control: no-cache\r\nCache: x\r\nAge: 2\r\n");
  EXPECT_EQ(moved.header("Age"), "");
  moved = std::move(copy);
  EXPECT_EQ(moved.header("Age"), "2");
  EXPECT_EQ(copy.header_lines(), "");  // NOLINT(bugprone-use-after-move)
}

TEST(Message, LongHeaderValuesAndManyHeadersAllGoOut) {
  Response res;
  const std::string long_value(2000, 'v');
  for (int i = 0; i < 20; ++i) res.header("X-Many", std::to_string(i));
  res.header("X-Long", long_value);
  std::string out;
  serialize(res, "D", true, false, out);
  EXPECT_NE(out.find("X-Many: 0\r\n"), std::string::npos);
  EXPECT_NE(out.find("X-Many: 19\r\nX-Long: " + long_value + "\r\n\r\n"), std::string::npos);
  EXPECT_EQ(res.header("X-Many"), "0");
  EXPECT_EQ(res.header("X-Long"), long_value);
}

// A response's buffers go back to the thread's stock and serve the next response: the body and
// the header lines land in memory already allocated. A buffer larger than the stock keeps is freed.
TEST(Message, AnsweredResponsesLendTheirBuffersToTheNextOnes) {
  const std::string body(600, 'b');  // both buffers 512 bytes or more: either serves either
  const char* first_body = nullptr;
  const char* first_lines = nullptr;
  {
    Response res;
    res.set_body(body).header("ETag", "\"1\"");
    first_body = res.body.data();
    first_lines = res.header_lines().data();
  }
  Response next;
  next.header("ETag", "\"2\"").set_body(std::string(200, 'c'));
  const std::set<const char*> lent{first_body, first_lines};
  EXPECT_TRUE(lent.contains(next.body.data())) << "the body is in a lent buffer";
  EXPECT_TRUE(lent.contains(next.header_lines().data())) << "so are the header lines";
  EXPECT_EQ(next.body, std::string(200, 'c'));
  EXPECT_EQ(next.header_lines(), "ETag: \"2\"\r\n");

  {
    Response res;
    res.set_body(std::string(64 * 1024, 'h'));
  }
  Response after;  // takes the last buffer given back, were it kept
  after.set_body(std::string(1000, 'a'));
  EXPECT_LT(after.body.capacity(), 64u * 1024) << "a 64 KiB buffer is not kept";
}

// A connection's output buffer: taken from the thread's stock by the first answer written into
// it, given back once sent (give_buffer), so that the next answer, on any connection, is written
// into the same memory; an answer appended to one still waiting keeps to that buffer.
TEST(Message, ASentOutputBufferIsTheNextAnswersOnAnyConnection) {
  Response res;
  res.set_body(std::string(300, 'b'));
  std::string first, second;
  serialize(res, "Mon, 07 Dec 2026 10:00:00 GMT", true, false, first);
  const std::string answer = first;
  serialize(res, "Mon, 07 Dec 2026 10:00:00 GMT", true, false, first);  // pipelined: appended
  EXPECT_EQ(first, answer + answer);
  const char* buffer = first.data();
  first.clear();  // sent
  give_buffer(first);
  EXPECT_EQ(first.capacity(), std::string().capacity()) << "the buffer went back";
  serialize(res, "Mon, 07 Dec 2026 10:00:00 GMT", true, false, second);
  EXPECT_EQ(second.data(), buffer) << "the next connection's answer is written where it was";
  EXPECT_EQ(second, answer) << "and none of the stale bytes stay";
}

// A request's trace is made when first asked for, as sampled as decided on arrival, and is then
// the same trace every time; a caller's trace (its traceparent) takes the place of both.
TEST(Message, ARequestsTraceIsMadeOnFirstUseAsSampledAsDecided) {
  for (bool sampled : {false, true}) {
    Request req;
    req.sample(sampled);
    EXPECT_EQ(req.sampled(), sampled);
    const std::string trace_id(req.trace().trace_id()), span_id(req.trace().span_id());
    EXPECT_EQ(req.trace().sampled(), sampled);
    EXPECT_EQ(req.trace().trace_id(), trace_id);
    EXPECT_EQ(req.trace().span_id(), span_id);
    EXPECT_EQ(trace_id.size(), 32u);
  }
  Request req;
  req.sample(true);
  req.continue_trace(Trace::child_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
  EXPECT_FALSE(req.sampled());  // the caller's flag, not this server's draw
  EXPECT_EQ(req.trace().trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(req.trace().parent_id(), "00f067aa0ba902b7");
}

TEST(Message, JsonErrorShape) {
  const auto res = json_error(404, "not_found", "no \"user\"");
  EXPECT_EQ(res.status, 404u);
  EXPECT_EQ(res.body, R"({"error":{"code":"not_found","message":"no \"user\""}})");
}

TEST(Message, QueryParameters) {
  Request r;
  r.query = "after=12&limit=5&flag";
  EXPECT_EQ(r.query_param("after"), "12");
  EXPECT_EQ(r.query_param("limit"), "5");
  EXPECT_EQ(r.query_param("flag"), "");
  EXPECT_EQ(r.query_param("missing").data(), nullptr);
}

TEST(Message, DateIsAnImfFixdate) {
  DateCache d;
  const auto s = d.now();
  EXPECT_EQ(s.size(), 29u);
  EXPECT_TRUE(s.ends_with(" GMT"));
}

}  // namespace
}  // namespace ztm::http
