#include "api/request_parsing.h"

#include <algorithm>
#include <boost/json/parser.hpp>
#include <cctype>
#include <charconv>

namespace ztm::api {

using app::Precondition;
using storage::Consistency;
using storage::kMaxIdempotencyKeyBytes;

namespace json = boost::json;

namespace {

bool is_json_type(std::string_view ct) {
  const auto semi = ct.find(';');
  std::string_view type = ct.substr(0, semi);
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  std::string lower(type);
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return lower == "application/json" ||
         (lower.starts_with("application/") && lower.ends_with("+json"));
}

}  // namespace

Result<json::value> parse_json_body(const http::Request& req, int max_depth) {
  if (!is_json_type(req.header(http::Field::content_type)))
    return Error{Errc::unsupported_media_type,
                 "the body must be JSON (Content-Type: application/json)"};
  json::parse_options options;
  options.max_depth = static_cast<std::size_t>(max_depth);
  json::parser parser(json::storage_ptr(), options);
  boost::system::error_code ec;
  parser.write(req.msg.body(), ec);  // the whole text: incomplete or trailing data is an error
  if (ec == json::error::too_deep)
    return Error{Errc::invalid_json,
                 "the JSON body nests deeper than " + std::to_string(max_depth) + " levels"};
  if (ec) return Error{Errc::invalid_json, "the body is not valid JSON: " + ec.message()};
  return parser.release();
}

Result<UserId> parse_id(std::string_view text) {
  UserId id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc{} || end != text.data() + text.size() || id <= 0 || id > kMaxSafeInteger)
    return Error{Errc::not_found, "no user has the id '" + std::string(text.substr(0, 64)) + "'"};
  return id;
}

Precondition parse_if_match(std::string_view header) {
  Precondition pre;
  while (!header.empty()) {
    const auto comma = header.find(',');
    std::string_view tag = header.substr(0, comma);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag == "*") {
      pre.any = true;
    } else if (tag.size() >= 3 && tag.front() == '"' && tag.back() == '"') {
      std::int64_t v = 0;
      const auto inner = tag.substr(1, tag.size() - 2);
      auto [end, ec] = std::from_chars(inner.data(), inner.data() + inner.size(), v);
      // "3" or a document's "3-<hash>". An unparseable tag cannot be one of ours: it stays in
      // the list as an impossible version.
      const bool ours = ec == std::errc{} && (end == inner.data() + inner.size() || *end == '-');
      pre.versions.push_back(ours ? v : -1);
    } else if (!tag.empty()) {
      pre.versions.push_back(-1);  // weak or malformed: never matches
    }
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return pre;
}

namespace {

// Parses an optional non-negative integer query parameter within [lo, hi].
std::optional<std::int64_t> query_int(std::string_view text, std::int64_t fallback, std::int64_t lo,
                                      std::int64_t hi) {
  if (text.empty()) return fallback;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v < lo || v > hi)
    return std::nullopt;
  return v;
}

}  // namespace

Result<PageQuery> parse_page(const http::Request& req, int default_limit, int max_limit) {
  const auto after = query_int(req.query_param("after"), 0, 0, kMaxSafeInteger);
  const auto limit = query_int(req.query_param("limit"), default_limit, 1, max_limit);
  if (!after) return Error{Errc::invalid_parameter, "after: must be an id (an integer >= 0)"};
  if (!limit)
    return Error{Errc::invalid_parameter,
                 "limit: must be an integer from 1 to " + std::to_string(max_limit)};
  return PageQuery{*after, static_cast<int>(*limit)};
}

Result<Consistency> parse_position(const http::Request& req) {
  const auto value = req.find_header("X-Ztm-Position");
  if (!value) return Consistency{};
  const bool valid = !value->empty() && value->size() <= 64 &&
                     std::all_of(value->begin(), value->end(), [](char c) {
                       // PostgreSQL's "0/16B3748"; a sharded store's "<shard>:0/16B3748".
                       return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == ':';
                     });
  if (!valid)
    return Error{Errc::invalid_header,
                 "X-Ztm-Position: must be a position from an earlier write's response"};
  return Consistency{std::string(*value)};
}

Result<std::optional<std::string>> parse_idempotency_key(const http::Request& req) {
  const auto value = req.find_header("Idempotency-Key");
  if (!value) return std::optional<std::string>{};
  const bool valid =
      !value->empty() && value->size() <= kMaxIdempotencyKeyBytes &&
      std::all_of(value->begin(), value->end(), [](char c) { return c > ' ' && c < 127; });
  if (!valid)
    return Error{Errc::invalid_header,
                 "Idempotency-Key: must be 1 to 200 visible ASCII characters"};
  return std::optional<std::string>(std::string(*value));
}

}  // namespace ztm::api
