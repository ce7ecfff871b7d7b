#pragma once
// The etcd v3 JSON gateway's messages, as the client (client.h) uses them: request bodies out,
// answers in. Pure functions, no I/O, so every rule is unit-tested (protocol_test.cc).
//
// The gateway maps etcd's protobuf messages to JSON: keys and values are base64, int64 fields
// are decimal strings, and fields at their default (0, false, PUT, empty) are left out, so
// `"succeeded"` is absent from a txn whose compare failed, and `"kvs"` from a range that found
// nothing. An answer that breaks these rules (a mistyped field, bad base64, not JSON, nesting
// deeper than a real answer) is Errc::internal: the server is not an etcd we understand.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace ztm::etcd {

// Standard base64 (RFC 4648, with padding), as the gateway reads and writes bytes fields.
std::string base64_encode(std::string_view bytes);
// nullopt unless `text` is canonical padded base64.
std::optional<std::string> base64_decode(std::string_view text);

// One key's value as read.
struct KeyValue {
  std::string value;
  std::int64_t mod_revision = 0;  // the revision of the key's last write
  std::int64_t revision = 0;      // the store's revision when it was read (the answer's header)
};

// One key of a prefix range, as read.
struct KeyedValue {
  std::string key;
  std::string value;
  std::int64_t mod_revision = 0;
};

// The keys of a prefix range, in key order: at most the limit asked for; `more` when etcd had
// more keys under the prefix than that.
struct PrefixRange {
  std::vector<KeyedValue> kvs;
  bool more = false;
  std::int64_t revision = 0;  // the store's revision when it was read
};

// One change of a watched key.
struct WatchEvent {
  enum class Type { put, del };
  Type type = Type::put;
  std::string value;              // empty for del
  std::int64_t mod_revision = 0;  // the revision of this change
};

// One message of a watch stream: the confirmation that the watch exists (created), a batch of
// changes in revision order, or its end (canceled, e.g. because its start revision was compacted).
struct WatchResponse {
  std::int64_t revision = 0;  // the store's revision when sent (0 when etcd left it out)
  bool created = false;
  bool canceled = false;
  std::int64_t compact_revision = 0;  // canceled: the oldest revision still kept, if that is why
  std::string cancel_reason;
  std::vector<WatchEvent> events;
};

// Request bodies (JSON text).
std::string range_request(std::string_view key);
// A txn that puts `value` at `key` if the key's mod_revision is `expected_mod_revision`
// (0: the key does not exist), and else reads nothing back.
std::string put_if_request(std::string_view key, std::string_view value,
                           std::int64_t expected_mod_revision);
// An unconditional put of `value` at `key`, attached to `lease` unless it is 0 (the key goes
// when the lease expires).
std::string put_request(std::string_view key, std::string_view value, std::int64_t lease = 0);
// A lease of `ttl_s` (>= 1) seconds.
std::string lease_grant_request(std::int64_t ttl_s);
// Every key starting with `prefix` (not empty), at most `limit` (>= 1) of them.
std::string prefix_range_request(std::string_view prefix, std::int64_t limit);
// The first key after every key starting with `prefix` (etcd's range_end for a prefix): the
// prefix with its last byte below 0xff incremented and what follows dropped; "\0" (every key)
// when every byte is 0xff. REQUIRES: prefix not empty.
std::string prefix_end(std::string_view prefix);
// A watch of `key` alone from `start_revision` (>= 1).
std::string watch_request(std::string_view key, std::int64_t start_revision);

// The answer to range_request: the key's value, or not_found when it has none.
Result<KeyValue> parse_range(std::string_view json);
// The answer to prefix_range_request: its keys (none is no error), at most `limit` of them.
Result<PrefixRange> parse_prefix_range(std::string_view json, std::int64_t limit);
// The answer to put_request: the revision of the put.
Result<std::int64_t> parse_put(std::string_view json);
// The answer to lease_grant_request: the lease's ID (not 0); an answer with an "error" field (no
// lease granted) is unavailable with its text.
Result<std::int64_t> parse_lease_grant(std::string_view json);
// The answer to put_if_request: the revision of the put, or precondition_failed when the compare
// failed (someone else wrote the key, or created it).
Result<std::int64_t> parse_put_if(std::string_view json);
// One message of a watch stream (one line). An error message ({"error": ...}) is unavailable
// with its text.
Result<WatchResponse> parse_watch_response(std::string_view json);
// A non-200 answer: the gateway's {"error","message","code"} body (a gRPC code) as an Error:
// unavailable for codes 4 (deadline), 14 (unavailable) and HTTP 5xx, invalid_argument for 3,
// internal otherwise; `what` names the call.
Error error_from_answer(unsigned status, std::string_view body, std::string_view what);

// Cuts a byte stream into newline-terminated messages, none longer than `max_bytes`: the watch
// stream's framing, bounded. A message past the cap fails feed() before it is buffered, so a
// server that sends an endless line costs at most max_bytes plus one fed chunk.
class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_bytes) : max_bytes_(max_bytes) {}
  // Appends `bytes`; invalid_argument (and nothing appended) when a message, finished or not,
  // passes max_bytes.
  Result<void> feed(std::string_view bytes);
  // The next complete message (without its newline; blank ones skipped), or nullopt.
  std::optional<std::string> next();
  std::size_t buffered() const { return pending_.size() - head_; }

 private:
  std::size_t max_bytes_;
  std::string pending_;
  std::size_t head_ = 0;  // pending_[0, head_) was handed out by next()
  std::size_t open_ = 0;  // bytes of the unfinished message at the end of pending_
};

}  // namespace ztm::etcd
