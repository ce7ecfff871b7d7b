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
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\n\r\n"), 400u);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400u);
  EXPECT_EQ(refusal("GARBAGE\r\n\r\n"), 400u);
}

}  // namespace
}  // namespace ztm::http
