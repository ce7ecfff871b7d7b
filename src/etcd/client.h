#pragma once
// A small etcd v3 client: what the bucket map (docs/sharding.md, "The map") and the servers' load
// reports ("Load") need and no more.
// It speaks HTTP/1.1 and JSON to etcd's gRPC gateway (POST /v3/kv/range, /v3/kv/txn,
// /v3/watch; protocol.h), in plain text and without authentication: the lab's etcd serves its
// clients that way on a private network. Not for an etcd that requires TLS or a user.
//
// Threading contract: every call is a coroutine on the caller's executor (any event loop, any
// thread); calls share nothing but the endpoint last found answering (an atomic), so any number
// may run at once. Each call opens its own connection and closes it when it returns.
//
// Failure contract: every call is bounded. On each endpoint tried, the connect must finish within
// `timeout`, and then the request's round trip (written, answered, read) within `timeout` again;
// an answer is at most max_response_bytes. Endpoints are tried in order, starting with the one
// that last answered: get and watch go to the next one on any failure, put_if only when nothing
// was sent (a txn sent and then lost may have been applied: unavailable with outcome_unknown,
// never a second try). When no endpoint answers: unavailable, naming each one's failure. An
// answer that is not what etcd sends: internal. Nothing is retried after that.
//
// Seen as: ztm_etcd_requests_total{call=get|get_prefix|put|put_if|watch|grant} and
// ztm_etcd_failures_total{call} (the calls that returned an error; a watch always ends with one),
// via register_metrics.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/metrics.h"
#include "core/result.h"
#include "core/url.h"
#include "etcd/protocol.h"

namespace ztm::etcd {

struct ClientOptions {
  std::vector<std::string> endpoints;        // "host:port" (IPv6: "[::1]:2379"), at least one
  std::chrono::milliseconds timeout{2000};   // the connect, then the round trip, per endpoint
  std::size_t max_response_bytes = 1 << 20;  // a range's or a txn's answer
  // A watch: each message at most this (a longer one ends the watch), and a stream silent for
  // watch_idle_timeout is ended too (unavailable), so a connection that died without a word
  // (a partition) is noticed; the caller re-reads and watches again.
  std::size_t max_watch_message_bytes = 1 << 20;
  std::chrono::milliseconds watch_idle_timeout{60000};
};

// Called for each message of a watch, in order; the first is the confirmation (created).
using WatchCallback = std::function<void(const WatchResponse&)>;

class Client {
 public:
  // Throws std::invalid_argument on an endpoint that is not host:port, or on a zero timeout or
  // cap (a start-up error).
  explicit Client(ClientOptions options);
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The key's value with its mod_revision and the store's revision; not_found when the key has
  // no value.
  boost::asio::awaitable<Result<KeyValue>> get(std::string key);

  // Compare-and-swap: writes `value` if the key's mod_revision is `expected_mod_revision` (0:
  // only if the key does not exist). The put's revision (the key's new mod_revision), or
  // precondition_failed when the key was written (or created) by someone else.
  boost::asio::awaitable<Result<std::int64_t>> put_if(std::string key, std::string value,
                                                      std::int64_t expected_mod_revision);

  // Writes `value` at `key` whatever is there (the key's owner is the only writer: a server's
  // own report). The put's revision. Like put_if, sent at most once: a put sent and lost is
  // unavailable with outcome_unknown.
  // With a `lease` (from grant()), the key goes when the lease expires.
  boost::asio::awaitable<Result<std::int64_t>> put(std::string key, std::string value,
                                                   std::int64_t lease = 0);

  // A lease of `ttl` (1 s to 1 day, else invalid_argument; etcd may lengthen a short one to its
  // minimum): its ID, for put(). Nothing keeps it alive: it expires `ttl` after the grant,
  // deleting every key put with it (a server's report, put again with a new lease each time).
  boost::asio::awaitable<Result<std::int64_t>> grant(std::chrono::seconds ttl);

  // Every key starting with `prefix` (not empty: invalid_argument), in key order, at most
  // `limit` (1 to kMaxPrefixKeys, else invalid_argument) of them, `more` when there were more;
  // the answer, like every answer, at most max_response_bytes (internal beyond).
  static constexpr std::int64_t kMaxPrefixKeys = 1000;
  boost::asio::awaitable<Result<PrefixRange>> get_prefix(std::string prefix,
                                                         std::int64_t limit = kMaxPrefixKeys);

  // Watches `key` from `from_revision` (>= 1: every change at or after it, including those
  // already made), calling `on_response` for each message. Runs until it fails, and then returns
  // the error (it never returns success): unavailable when no endpoint accepts the watch, the
  // stream breaks or ends, stays silent for watch_idle_timeout, or the call is cancelled;
  // internal when the server sends something that is not a watch message or one longer than
  // max_watch_message_bytes; conflict when etcd cancels the watch (its start revision was
  // compacted: re-read the key, then watch from after the read).
  boost::asio::awaitable<Result<void>> watch(std::string key, std::int64_t from_revision,
                                             WatchCallback on_response);

  void register_metrics(MetricsRegistry& registry) const;
  const ClientOptions& options() const { return options_; }

 private:
  struct Counters;
  // How a watch on one endpoint ended: `set_up` once etcd accepted it (then no other endpoint
  // is tried: the caller re-reads first).
  struct WatchEnd {
    Error error;
    bool set_up;
  };
  // POSTs `body` to `path` on each endpoint in turn as the failure contract says; the body of a
  // 200 answer, or the error.
  boost::asio::awaitable<Result<std::string>> post(const char* path, std::string body,
                                                   bool idempotent, const char* what);
  // Appends endpoint `at`'s failure to `failures`; the next call starts past it.
  void passed_over(std::size_t at, const Error& error, std::string& failures);
  boost::asio::awaitable<WatchEnd> stream_watch(std::size_t endpoint, const std::string& body,
                                                WatchCallback& on_response);

  ClientOptions options_;
  std::vector<HostPort> endpoints_;
  std::atomic<std::size_t> preferred_{0};  // the endpoint to try first
  std::shared_ptr<Counters> counters_;  // shared with the metric callbacks, which may outlive this
};

}  // namespace ztm::etcd
