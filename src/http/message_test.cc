#include "http/message.h"

#include <gtest/gtest.h>

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
