#include "etcd/protocol.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <charconv>

namespace ztm::etcd {

namespace json = boost::json;

namespace {

// A watch response nests five levels (message, result, events, event, kv); an answer deeper
// than this is not etcd's.
constexpr std::size_t kMaxDepth = 8;
constexpr std::size_t kShownBytes = 200;  // of a bad answer, in an error message

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

Error bad(std::string_view what, std::string_view problem) {
  return Error{Errc::internal, fmt::format("etcd {}: {}", what, problem)};
}

std::string shown(std::string_view text) {
  return std::string(text.substr(0, kShownBytes)) + (text.size() > kShownBytes ? "..." : "");
}

Result<json::object> parse_object(std::string_view text, std::string_view what) {
  json::parse_options options;
  options.max_depth = kMaxDepth;
  boost::system::error_code ec;
  auto value = json::parse(text, ec, {}, options);
  if (ec) return bad(what, fmt::format("not JSON ({}): {}", ec.message(), shown(text)));
  if (!value.is_object()) return bad(what, "not a JSON object: " + shown(text));
  return std::move(value.as_object());
}

// The gateway writes int64 fields as decimal strings; a JSON integer is read too. Absent is 0
// (proto3 leaves defaults out); nullopt when the field is there but not an int64.
// etcd's revisions and versions are int64 (as strings in its JSON); beyond 2^62 an answer is
// not from a real etcd, and refusing it keeps `revision + 1` well defined for the callers.
constexpr std::int64_t kMaxInt64Field = std::int64_t{1} << 62;

std::optional<std::int64_t> int64_of(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  if (!v) return 0;
  std::int64_t n = 0;
  if (v->is_int64()) {
    n = v->as_int64();
  } else {
    if (!v->is_string()) return std::nullopt;
    const auto& s = v->as_string();
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  }
  if (n < 0 || n > kMaxInt64Field) return std::nullopt;
  return n;
}

std::optional<bool> bool_of(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  if (!v) return false;
  if (!v->is_bool()) return std::nullopt;
  return v->as_bool();
}

// A bytes field (base64); absent is empty.
std::optional<std::string> bytes_of(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  if (!v) return std::string();
  if (!v->is_string()) return std::nullopt;
  return base64_decode(v->as_string());
}

// A message field; absent is an empty object (a message at its default).
const json::object* object_of(const json::object& o, std::string_view name) {
  static const json::object kEmpty;
  const auto* v = o.if_contains(name);
  if (!v) return &kEmpty;
  return v->if_object();
}

// The header's revision.
Result<std::int64_t> revision_of(const json::object& answer, std::string_view what) {
  const auto* header = object_of(answer, "header");
  const auto revision = header ? int64_of(*header, "revision") : std::nullopt;
  if (!revision) return bad(what, "a malformed header");
  return *revision;
}

// An answer to a kv call: its object and its header's revision.
struct Answer {
  json::object body;
  std::int64_t revision = 0;
};

Result<Answer> parse_answer(std::string_view text, std::string_view what) {
  auto answer = parse_object(text, what);
  if (!answer) return std::move(answer).error();
  auto revision = revision_of(*answer, what);
  if (!revision) return std::move(revision).error();
  return Answer{std::move(*answer), *revision};
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const auto n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
                   static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8 |
                   static_cast<unsigned char>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  static const auto kValues = [] {
    std::array<int, 256> values{};
    values.fill(-1);
    for (std::size_t i = 0; i < kAlphabet.size(); ++i)
      values[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int>(i);
    return values;
  }();
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    std::uint32_t n = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const bool pad = last && j >= 4 - padding;
      const int v = pad ? 0 : kValues[static_cast<unsigned char>(text[i + j])];
      if (v < 0) return std::nullopt;  // '=' anywhere else is not in the alphabet either
      n = n << 6 | static_cast<std::uint32_t>(v);
    }
    const std::size_t bytes = last ? 3 - padding : 3;
    for (std::size_t j = 0; j < bytes; ++j) out += static_cast<char>((n >> (16 - 8 * j)) & 0xff);
  }
  return out;
}

std::string range_request(std::string_view key) {
  return json::serialize(json::object{{"key", base64_encode(key)}});
}

std::string put_if_request(std::string_view key, std::string_view value,
                           std::int64_t expected_mod_revision) {
  const auto k = base64_encode(key);
  json::object compare{{"target", "MOD"},
                       {"key", k},
                       {"mod_revision", std::to_string(expected_mod_revision)},
                       {"result", "EQUAL"}};
  json::object put{{"key", k}, {"value", base64_encode(value)}};
  json::object txn{{"compare", json::array{std::move(compare)}},
                   {"success", json::array{json::object{{"request_put", std::move(put)}}}}};
  return json::serialize(txn);
}

std::string put_request(std::string_view key, std::string_view value, std::int64_t lease) {
  json::object put{{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) put["lease"] = std::to_string(lease);  // int64 as a string, as etcd writes them
  return json::serialize(put);
}

std::string lease_grant_request(std::int64_t ttl_s) {
  return json::serialize(json::object{{"TTL", std::to_string(ttl_s)}});
}

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) return std::string(1, '\0');
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

std::string prefix_range_request(std::string_view prefix, std::int64_t limit) {
  return json::serialize(json::object{{"key", base64_encode(prefix)},
                                      {"range_end", base64_encode(prefix_end(prefix))},
                                      {"limit", std::to_string(limit)}});
}

std::string watch_request(std::string_view key, std::int64_t start_revision) {
  json::object create{{"key", base64_encode(key)},
                      {"start_revision", std::to_string(start_revision)}};
  return json::serialize(json::object{{"create_request", std::move(create)}});
}

Result<KeyValue> parse_range(std::string_view text) {
  constexpr std::string_view kWhat = "range";
  auto answer = parse_answer(text, kWhat);
  if (!answer) return std::move(answer).error();
  const auto* kvs = answer->body.if_contains("kvs");
  if (!kvs) return Error{Errc::not_found, "etcd: no such key"};
  if (!kvs->is_array() || kvs->as_array().size() != 1 || !kvs->as_array()[0].is_object())
    return bad(kWhat, "\"kvs\" is not one key: " + shown(text));
  const auto& kv = kvs->as_array()[0].as_object();
  auto value = bytes_of(kv, "value");
  const auto mod_revision = int64_of(kv, "mod_revision");
  if (!value || !mod_revision || *mod_revision < 1)
    return bad(kWhat, "a malformed key-value: " + shown(text));
  return KeyValue{std::move(*value), *mod_revision, answer->revision};
}

Result<PrefixRange> parse_prefix_range(std::string_view text, std::int64_t limit) {
  constexpr std::string_view kWhat = "range";
  auto answer = parse_answer(text, kWhat);
  if (!answer) return std::move(answer).error();
  const auto more = bool_of(answer->body, "more");
  const auto* kvs = answer->body.if_contains("kvs");
  if (!more ||
      (kvs && (!kvs->is_array() || kvs->as_array().size() >
                                       static_cast<std::size_t>(std::max<std::int64_t>(limit, 0)))))
    return bad(kWhat, "a malformed range: " + shown(text));
  PrefixRange range{{}, *more, answer->revision};
  if (!kvs) return range;
  for (const auto& entry : kvs->as_array()) {
    const auto* kv = entry.if_object();
    auto key = kv ? bytes_of(*kv, "key") : std::nullopt;
    auto value = kv ? bytes_of(*kv, "value") : std::nullopt;
    const auto mod_revision = kv ? int64_of(*kv, "mod_revision") : std::nullopt;
    if (!key || key->empty() || !value || !mod_revision || *mod_revision < 1)
      return bad(kWhat, "a malformed key-value: " + shown(text));
    range.kvs.push_back({std::move(*key), std::move(*value), *mod_revision});
  }
  return range;
}

Result<std::int64_t> parse_put(std::string_view text) {
  constexpr std::string_view kWhat = "put";
  auto answer = parse_answer(text, kWhat);
  if (!answer) return std::move(answer).error();
  if (answer->revision < 1) return bad(kWhat, "no revision: " + shown(text));  // a put makes one
  return answer->revision;
}

Result<std::int64_t> parse_lease_grant(std::string_view text) {
  constexpr std::string_view kWhat = "lease grant";
  auto answer = parse_answer(text, kWhat);
  if (!answer) return std::move(answer).error();
  if (const auto* error = answer->body.if_contains("error"); error && error->is_string())
    return Error{Errc::unavailable, fmt::format("etcd lease grant: {}", shown(error->as_string()))};
  // A lease ID is any int64 but 0 (etcd makes them from its member ID: often past 2^62).
  std::int64_t id = 0;
  if (const auto* v = answer->body.if_contains("ID"); v && v->is_string()) {
    const auto& digits = v->as_string();
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
    if (ec != std::errc() || end != digits.data() + digits.size()) id = 0;
  }
  const auto ttl = int64_of(answer->body, "TTL");
  if (id == 0 || !ttl || *ttl < 1) return bad(kWhat, "no lease: " + shown(text));
  return id;
}

Result<std::int64_t> parse_put_if(std::string_view text) {
  constexpr std::string_view kWhat = "txn";
  auto answer = parse_answer(text, kWhat);
  if (!answer) return std::move(answer).error();
  const auto succeeded = bool_of(answer->body, "succeeded");
  if (!succeeded) return bad(kWhat, "a malformed \"succeeded\": " + shown(text));
  if (!*succeeded)
    return Error{Errc::precondition_failed, "etcd: the key's mod_revision is not the expected one"};
  return answer->revision;
}

Result<WatchResponse> parse_watch_response(std::string_view text) {
  constexpr std::string_view kWhat = "watch";
  auto message = parse_object(text, kWhat);
  if (!message) return std::move(message).error();
  if (const auto* error = message->if_contains("error")) {
    // 3.4: {"error":"text","message":"text","code":2}; later: {"error":{"message":...}}.
    const auto* m = message->if_contains("message");
    if (!m && error->is_object()) m = error->as_object().if_contains("message");
    const std::string_view why = m && m->is_string()  ? std::string_view(m->as_string())
                                 : error->is_string() ? std::string_view(error->as_string())
                                                      : std::string_view("no message");
    return Error{Errc::unavailable, "etcd watch: the server ended it: " + shown(why)};
  }
  const auto* result = message->if_contains("result");
  if (!result || !result->is_object()) return bad(kWhat, "no \"result\": " + shown(text));
  const auto& r = result->as_object();
  WatchResponse response;
  auto revision = revision_of(r, kWhat);
  const auto created = bool_of(r, "created");
  const auto canceled = bool_of(r, "canceled");
  const auto compact = int64_of(r, "compact_revision");
  const auto* reason = r.if_contains("cancel_reason");
  const auto* events = r.if_contains("events");
  if (!revision || !created || !canceled || !compact || (reason && !reason->is_string()) ||
      (events && !events->is_array()))
    return bad(kWhat, "a malformed response: " + shown(text));
  response.revision = *revision;
  response.created = *created;
  response.canceled = *canceled;
  response.compact_revision = *compact;
  if (reason) response.cancel_reason = std::string(reason->as_string());
  if (!events) return response;
  for (const auto& e : events->as_array()) {
    const auto* event = e.if_object();
    const auto* type = event ? event->if_contains("type") : nullptr;
    const auto* kv = event ? object_of(*event, "kv") : nullptr;
    auto value = kv ? bytes_of(*kv, "value") : std::nullopt;
    const auto mod_revision = kv ? int64_of(*kv, "mod_revision") : std::nullopt;
    const bool put = !type || (type->is_string() && type->as_string() == "PUT");
    const bool del = type && type->is_string() && type->as_string() == "DELETE";
    if (!value || !mod_revision || *mod_revision < 1 || !(put || del))
      return bad(kWhat, "a malformed event: " + shown(text));
    response.events.push_back(
        {put ? WatchEvent::Type::put : WatchEvent::Type::del, std::move(*value), *mod_revision});
  }
  return response;
}

Error error_from_answer(unsigned status, std::string_view body, std::string_view what) {
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = kMaxDepth;
  const auto value = json::parse(body, ec, {}, options);
  const auto* o = ec ? nullptr : value.if_object();
  const auto* message = o ? o->if_contains("message") : nullptr;
  const auto* code = o ? o->if_contains("code") : nullptr;
  const std::int64_t grpc = code && code->is_int64() ? code->as_int64() : -1;
  const std::string why =
      message && message->is_string() ? shown(message->as_string()) : shown(body);
  Errc errc = Errc::internal;
  if (status >= 500 || grpc == 4 || grpc == 14) errc = Errc::unavailable;
  if (grpc == 3) errc = Errc::invalid_argument;
  return Error{errc, fmt::format("etcd {}: HTTP {}: {}", what, status, why)};
}

Result<void> LineSplitter::feed(std::string_view bytes) {
  std::size_t open = open_;
  for (std::size_t start = 0;;) {
    const auto newline = bytes.find('\n', start);
    const std::size_t piece = (newline == std::string_view::npos ? bytes.size() : newline) - start;
    if (open + piece > max_bytes_)
      return Error{Errc::invalid_argument,
                   fmt::format("a message longer than {} bytes", max_bytes_)};
    if (newline == std::string_view::npos) {
      open += piece;
      break;
    }
    open = 0;
    start = newline + 1;
  }
  pending_.erase(0, head_);
  head_ = 0;
  pending_.append(bytes);
  open_ = open;
  return {};
}

std::optional<std::string> LineSplitter::next() {
  const std::size_t complete = pending_.size() - open_;  // the unfinished message has no newline
  while (head_ < complete) {
    const auto newline = pending_.find('\n', head_);
    std::string line = pending_.substr(head_, newline - head_);
    head_ = newline + 1;
    if (line.find_first_not_of(" \t\r") != std::string::npos) return line;
  }
  return std::nullopt;
}

}  // namespace ztm::etcd
