#include "http/request_head.h"

#include <gtest/gtest.h>

namespace ztm::http {
namespace {

// The status parse_head answers for `head`; 0 when the request may go on.
unsigned refusal(std::string_view head) {
  RequestParser parser;
  parser.header_limit(8192);
  const auto res = parse_head(head, parser);
  return res ? res->status : 0;
}

TEST(RequestHead, EndIsFoundAcrossCallsThatSawPartOfIt) {
  EXPECT_EQ(head_end("GET / HTTP/1.1\r\nHost: a\r\n"), 0u);
  const std::string_view full = "GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";
  EXPECT_EQ(head_end(full, 25), full.size() - 4);
  EXPECT_EQ(head_end(full), full.size() - 4);
}

TEST(RequestHead, SoundRequestsGoOn) {
  EXPECT_EQ(refusal("GET /users/12 HTTP/1.1\r\nHost: a\r\n\r\n"), 0u);
  EXPECT_EQ(refusal("GET /users/12 HTTP/1.0\r\n\r\n"), 0u);
  EXPECT_EQ(refusal("POST /users HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked \r\n\r\n"), 0u);
  EXPECT_EQ(refusal("POST /users HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n"), 0u);
}

TEST(RequestHead, AmbiguousFramingIsRefused) {
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n"), 400u);
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n"),
            400u);
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            501u);
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n"),
            400u);
  EXPECT_EQ(refusal("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400u);
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n"),
            400u);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n"), 400u);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nX: 1\r\n\t2\r\nHost: a\r\n\r\n"), 400u);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: a\r\nX: 1 \r\n\r\n"), 0u) << "a space ends a value";
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\n\r\n"), 400u);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400u);
  EXPECT_EQ(refusal("GARBAGE\r\n\r\n"), 400u);
}

// parse_simple_head: what it takes, it takes as parse_head does (the same message); what it
// leaves, parse_head decides.
struct Parsed {
  bool plain = false;    // parse_simple_head took it
  unsigned refusal = 0;  // parse_head's status, 0: goes on
  bool same = false;     // both messages alike (when both took it)
};

Parsed parse_both(std::string_view head) {
  Parsed p;
  bhttp::request<bhttp::string_body> simple;
  p.plain = parse_simple_head(head, simple);
  RequestParser parser;
  parser.header_limit(8192);
  const auto res = parse_head(head, parser);
  p.refusal = res ? res->status : 0;
  const auto& beast = parser.get();
  p.same = simple.method() == beast.method() && simple.target() == beast.target() &&
           simple.version() == beast.version() && simple.keep_alive() == beast.keep_alive() &&
           std::equal(simple.begin(), simple.end(), beast.begin(), beast.end(),
                      [](const auto& a, const auto& b) {
                        return a.name() == b.name() && a.name_string() == b.name_string() &&
                               a.value() == b.value();
                      });
  return p;
}

TEST(RequestHead, APlainGetOrHeadIsParsedInOnePassAsBeastParsesIt) {
  for (const char* head : {
           "GET /users/12 HTTP/1.1\r\nHost: a\r\n\r\n",
           "HEAD /users/12?x=1&y=%20 HTTP/1.1\r\nhost:a\r\n\r\n",
           "GET / HTTP/1.0\r\n\r\n",
           "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nConnection: ,keep-alive , ,\tUpgrade,\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: \t a b \t \r\nX-Empty:\r\nX-Spaces:   \r\n"
           "Accept: */*\r\nX-Custom-Name: \"q\" (c) [b] {x}\r\n\r\n",
       }) {
    const auto p = parse_both(head);
    EXPECT_TRUE(p.plain) << head;
    EXPECT_EQ(p.refusal, 0u) << head;
    EXPECT_TRUE(p.same) << head;
  }
}

TEST(RequestHead, AnyOtherHeadIsLeftToBeastsParser) {
  for (const char* head : {
           "POST /users HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n",  // a body
           "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
           "DELETE /users/1 HTTP/1.1\r\nHost: a\r\n\r\n",  // other methods
           "get / HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET / HTTP/1.1\r\n\r\n",                        // Host missing
           "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  // or twice
           "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n",  // obs-fold
           "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\t2\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nX : 1\r\n\r\n",    // space before ':'
           "GET / HTTP/1.1\r\nHost: a\r\n: 1\r\n\r\n",      // no name
           "GET / HTTP/1.1\r\nHost: a\r\nX 1\r\n\r\n",      // no ':'
           "GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n",  // control bytes
           "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nX: \xc3\xa9\r\n\r\n",  // obs-text
           "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",      // bare CR
           "GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n",      // bare LF
           // Connection and Proxy-Connection not a list of tokens (Beast refuses them)
           "GET / HTTP/1.0\r\nConnection: keep;ext=\"v\"-alive\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep alive\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nProxy-Connection: close;\r\n\r\n",
           "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",  // empty target
           "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
           "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
           "GET / HTTP/1.1\nHost: a\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET",  // not a whole head
           "GET / HTTP/1.1\r\nHost: a\r\n",
           "GARBAGE\r\n\r\n",
       }) {
    EXPECT_FALSE(parse_both(head).plain) << head;
  }
}

}  // namespace
}  // namespace ztm::http
