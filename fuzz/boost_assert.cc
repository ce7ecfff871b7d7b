// Boost's assertions in the fuzz build (no NDEBUG, and BOOST_ENABLE_ASSERT_DEBUG_HANDLER, which
// ZTM_FUZZ sets in CMakeLists.txt) come here. Each aborts as assert() would, so libFuzzer reports
// it as a crash, except the one assertion Boost itself found wrong (below). Builds with NDEBUG
// (every other build of ztm's libraries that serves) check none of them.
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace boost {
namespace {

// Beast (Boost 1.81, Debian 12) asserts in parse_chunk_header that a chunk header without a
// CRLF before it has at least 5 bytes; a last chunk that reaches the parser in pieces ("0\r\n",
// then "\r\n") has 3 or 4, and the code after the assertion handles that (it asks for more).
// Found by the http_request fuzzer (fuzz/regressions/http_request/last-chunk-in-pieces); the
// assertion was corrected upstream in May 2024 (boostorg/beast#2861).
bool known_wrong(std::string_view expr, std::string_view file) {
  return expr == "n >= 5" && file.ends_with("boost/beast/http/impl/basic_parser.ipp");
}

}  // namespace

void assertion_failed(char const* expr, char const* function, char const* file, long line) {
  if (known_wrong(expr, file)) return;
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed.\n", file, line, function, expr);
  std::abort();
}

void assertion_failed_msg(char const* expr, char const* msg, char const* function, char const* file,
                          long line) {
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed: %s\n", file, line, function, expr, msg);
  std::abort();
}

}  // namespace boost
