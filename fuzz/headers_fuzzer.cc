// The request target and the header values the API parses, in a head that went through
// parse_head as the server's does (so values are what Beast hands the handlers): the query
// parameters of GET /users, the id in a path, If-Match and If-None-Match (users_api.cc),
// Idempotency-Key, X-Ztm-Position, and the session token from Authorization or the cookie.
// Input: one line each, in the order of kLines; missing lines leave the header out.

#include <array>

#include "api/auth.h"
#include "api/cache_policy.h"
#include "api/request_parsing.h"
#include "core/stable_hash.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/split_target.h"
#include "http/request_head.h"

namespace {

using namespace ztm;

constexpr std::array<std::string_view, 6> kHeaders{
    "If-Match", "If-None-Match", "Idempotency-Key", "X-Ztm-Position", "Cookie", "Authorization"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input = fuzz::as_text(data, size);
  std::string head = "GET " + std::string(fuzz::next_line(input)) + " HTTP/1.1\r\nHost: ztm\r\n";
  for (const auto name : kHeaders) {
    if (input.empty()) break;
    const auto value = fuzz::next_line(input);
    head.append(name).append(": ").append(value).append("\r\n");
  }
  head += "\r\n";
  http::RequestParser parser;
  parser.header_limit(8 * 1024);
  if (http::parse_head(head, parser)) return 0;  // the server would have answered 4xx

  http::Request req;
  req.msg = parser.release();
  fuzz::split_target(req);

  for (const auto name : {"after", "limit"}) {
    const auto value = req.query_param(name);
    FUZZ_CHECK(fuzz::points_into(value, req.query));
    if (auto id = api::parse_id(value)) FUZZ_CHECK(*id > 0 && *id <= kMaxSafeInteger);
  }
  const auto last_segment = req.path.substr(std::min(req.path.size(), req.path.rfind('/') + 1));
  if (auto id = api::parse_id(last_segment)) FUZZ_CHECK(*id > 0 && *id <= kMaxSafeInteger);

  const auto pre = api::parse_if_match(req.header(http::Field::if_match));
  for (const std::int64_t version : {1, 3, 1'000'000}) {
    (void)pre.matches(version);
    (void)req.header(http::Field::if_none_match)
        .find(api::DocumentEtag(version, tag_hash64("{}")).view());
  }
  if (auto key = api::parse_idempotency_key(req); key && *key)
    FUZZ_CHECK(!(*key)->empty() && (*key)->size() <= storage::kMaxIdempotencyKeyBytes);
  else if (!key)
    FUZZ_CHECK(key.error().code == Errc::invalid_header);
  if (auto position = api::parse_position(req))
    FUZZ_CHECK(position->min_position.size() <= 64);
  else
    FUZZ_CHECK(position.error().code == Errc::invalid_header);
  if (auto token = api::Auth::token(req)) FUZZ_CHECK(token->size() < head.size());
  return 0;
}
