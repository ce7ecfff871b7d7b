#include "etcd/client.h"

#include <fmt/format.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <stdexcept>

#include "http/client.h"

namespace ztm::etcd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

namespace {

constexpr std::size_t kMaxHeaderBytes = 16 * 1024;
// Bytes read from the socket ahead of the parser (headers, chunk framing); the body itself goes
// to a string (bounded by max_response_bytes) or, for a watch, through a fixed chunk.
constexpr std::size_t kMaxReadAheadBytes = 64 * 1024;
constexpr std::size_t kWatchChunkBytes = 16 * 1024;
constexpr std::size_t kMaxErrorBodyBytes = 4096;  // of a non-200 watch answer, for the message

enum CallKind : std::size_t { kGet, kGetPrefix, kPut, kPutIf, kWatch, kGrant, kCallKinds };
constexpr std::array<const char*, kCallKinds> kCallNames = {"get",    "get_prefix", "put",
                                                            "put_if", "watch",      "grant"};

std::string where(const HostPort& endpoint) {
  return endpoint.host.find(':') == std::string::npos
             ? fmt::format("{}:{}", endpoint.host, endpoint.port)
             : fmt::format("[{}]:{}", endpoint.host, endpoint.port);
}

using http::failure;

bool is_http_error(const boost::system::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category();
}

// Connects to `endpoint` (within `timeout`) and writes a POST of `body` to `path` (within
// `timeout` again; the caller's read shares that deadline). On failure nothing was sent whole,
// so etcd did nothing.
asio::awaitable<Result<void>> connect_and_send(beast::tcp_stream& stream, const HostPort& endpoint,
                                               const char* path, const std::string& body,
                                               std::chrono::milliseconds timeout) {
  bhttp::request<bhttp::string_body> request(bhttp::verb::post, path, 11);
  request.set(bhttp::field::host, where(endpoint));
  request.set(bhttp::field::content_type, "application/json");
  request.body() = body;
  request.prepare_payload();
  auto sent = co_await http::connect_and_send(stream, endpoint.host, std::to_string(endpoint.port),
                                              request, timeout);
  if (!sent) co_return Error{Errc::unavailable, where(endpoint) + ": " + sent.error().message};
  co_return Result<void>{};
}

}  // namespace

struct Client::Counters {
  std::array<std::atomic<std::uint64_t>, kCallKinds> requests{};
  std::array<std::atomic<std::uint64_t>, kCallKinds> failures{};

  template <class T>
  Result<T> count(CallKind kind, Result<T> result) {
    requests[kind].fetch_add(1, std::memory_order_relaxed);
    if (!result.ok()) failures[kind].fetch_add(1, std::memory_order_relaxed);
    return result;
  }
};

Client::Client(ClientOptions options)
    : options_(std::move(options)), counters_(std::make_shared<Counters>()) {
  if (options_.endpoints.empty()) throw std::invalid_argument("etcd: no endpoints");
  for (const auto& endpoint : options_.endpoints) {
    auto parsed = endpoint.find('/') == std::string::npos ? http_host_port("http://" + endpoint)
                                                          : std::nullopt;
    if (!parsed) throw std::invalid_argument("etcd: endpoint '" + endpoint + "' is not host:port");
    endpoints_.push_back(std::move(*parsed));
  }
  if (options_.timeout.count() < 1 || options_.watch_idle_timeout.count() < 1 ||
      options_.max_response_bytes < 1 || options_.max_watch_message_bytes < 1)
    throw std::invalid_argument("etcd: timeouts and caps must be positive");
}

void Client::register_metrics(MetricsRegistry& registry) const {
  for (std::size_t kind = 0; kind < kCallKinds; ++kind) {
    const Labels labels{{"call", kCallNames[kind]}};
    auto read = [counters = counters_](const std::atomic<std::uint64_t>& value) {
      return [counters, &value] { return static_cast<double>(value.load()); };
    };
    registry.callback("ztm_etcd_requests_total", "etcd calls made", labels,
                      read(counters_->requests[kind]), "counter");
    registry.callback("ztm_etcd_failures_total", "etcd calls that returned an error", labels,
                      read(counters_->failures[kind]), "counter");
  }
}

void Client::passed_over(std::size_t at, const Error& error, std::string& failures) {
  failures += (failures.empty() ? "" : "; ") + error.message;
  std::size_t expected = at;  // the next call starts past the endpoint that failed
  preferred_.compare_exchange_strong(expected, (at + 1) % endpoints_.size());
}

asio::awaitable<Result<std::string>> Client::post(const char* path, std::string body,
                                                  bool idempotent, const char* what) {
  const auto executor = co_await asio::this_coro::executor;
  const std::size_t first = preferred_.load();
  std::string failures;
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    const std::size_t at = (first + i) % endpoints_.size();
    const HostPort& endpoint = endpoints_[at];
    auto next = [&](const Error& error) { passed_over(at, error, failures); };
    beast::tcp_stream stream(executor);
    auto opened = co_await connect_and_send(stream, endpoint, path, body, options_.timeout);
    if (!opened) {
      next(opened.error());
      continue;
    }
    boost::system::error_code ec;
    beast::flat_buffer buffer(kMaxReadAheadBytes);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(options_.max_response_bytes);
    co_await bhttp::async_read(stream, buffer, parser,
                               asio::redirect_error(asio::use_awaitable, ec));
    boost::system::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    if (ec == bhttp::error::body_limit)
      co_return Error{Errc::internal,
                      fmt::format("etcd {}: {}: an answer longer than {} bytes", what,
                                  where(endpoint), options_.max_response_bytes)};
    if (is_http_error(ec))
      co_return Error{Errc::internal, fmt::format("etcd {}: {}: a malformed answer: {}", what,
                                                  where(endpoint), ec.message())};
    if (ec) {
      Error error{Errc::unavailable, where(endpoint) + ": answer: " + failure(ec)};
      error.outcome_unknown = true;
      if (!idempotent) {
        error.message = fmt::format("etcd {}: {}", what, error.message);
        co_return error;
      }
      next(error);
      continue;
    }
    const unsigned status = parser.get().result_int();
    if (status != 200) {
      auto error = error_from_answer(status, parser.get().body(), what);
      if (!idempotent || error.code != Errc::unavailable) co_return error;
      next(Error{error.code, where(endpoint) + ": " + error.message});
      continue;
    }
    preferred_.store(at);
    co_return std::move(parser.get().body());
  }
  co_return Error{Errc::unavailable,
                  fmt::format("etcd {}: no endpoint answered ({})", what, failures)};
}

asio::awaitable<Result<KeyValue>> Client::get(std::string key) {
  // Named, not a temporary inside co_await (GCC 12, see storage/store.h).
  auto call = post("/v3/kv/range", range_request(key), true, "get");
  auto answer = co_await std::move(call);
  Result<KeyValue> result = answer ? parse_range(*answer) : Result<KeyValue>(answer.error());
  co_return counters_->count(kGet, std::move(result));
}

asio::awaitable<Result<PrefixRange>> Client::get_prefix(std::string prefix, std::int64_t limit) {
  if (prefix.empty() || limit < 1 || limit > kMaxPrefixKeys)
    co_return counters_->count(
        kGetPrefix, Result<PrefixRange>(
                        Errc::invalid_argument,
                        fmt::format("etcd get_prefix: a prefix and 1 to {} keys", kMaxPrefixKeys)));
  auto call = post("/v3/kv/range", prefix_range_request(prefix, limit), true, "get_prefix");
  auto answer = co_await std::move(call);
  Result<PrefixRange> result =
      answer ? parse_prefix_range(*answer, limit) : Result<PrefixRange>(answer.error());
  co_return counters_->count(kGetPrefix, std::move(result));
}

asio::awaitable<Result<std::int64_t>> Client::put(std::string key, std::string value,
                                                  std::int64_t lease) {
  auto call = post("/v3/kv/put", put_request(key, value, lease), false, "put");
  auto answer = co_await std::move(call);
  Result<std::int64_t> result = answer ? parse_put(*answer) : Result<std::int64_t>(answer.error());
  co_return counters_->count(kPut, std::move(result));
}

asio::awaitable<Result<std::int64_t>> Client::grant(std::chrono::seconds ttl) {
  if (ttl < std::chrono::seconds(1) || ttl > std::chrono::hours(24))
    co_return counters_->count(
        kGrant,
        Result<std::int64_t>(Error{Errc::invalid_argument, "etcd grant: a lease of 1 s to 1 day"}));
  auto call = post("/v3/lease/grant", lease_grant_request(ttl.count()), false, "grant");
  auto answer = co_await std::move(call);
  Result<std::int64_t> result =
      answer ? parse_lease_grant(*answer) : Result<std::int64_t>(answer.error());
  co_return counters_->count(kGrant, std::move(result));
}

asio::awaitable<Result<std::int64_t>> Client::put_if(std::string key, std::string value,
                                                     std::int64_t expected_mod_revision) {
  auto call =
      post("/v3/kv/txn", put_if_request(key, value, expected_mod_revision), false, "put_if");
  auto answer = co_await std::move(call);
  Result<std::int64_t> result =
      answer ? parse_put_if(*answer) : Result<std::int64_t>(answer.error());
  co_return counters_->count(kPutIf, std::move(result));
}

asio::awaitable<Result<void>> Client::watch(std::string key, std::int64_t from_revision,
                                            WatchCallback on_response) {
  const std::string body = watch_request(key, from_revision);
  const std::size_t first = preferred_.load();
  std::string failures;
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    const std::size_t at = (first + i) % endpoints_.size();
    auto end = co_await stream_watch(at, body, on_response);
    if (end.set_up) co_return counters_->count(kWatch, Result<void>(std::move(end.error)));
    passed_over(at, end.error, failures);
  }
  co_return counters_->count(
      kWatch,
      Result<void>(Errc::unavailable, "etcd watch: no endpoint answered (" + failures + ")"));
}

asio::awaitable<Client::WatchEnd> Client::stream_watch(std::size_t at, const std::string& body,
                                                       WatchCallback& on_response) {
  const HostPort& endpoint = endpoints_[at];
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  auto opened = co_await connect_and_send(stream, endpoint, "/v3/watch", body, options_.timeout);
  if (!opened) co_return WatchEnd{std::move(opened).error(), false};
  boost::system::error_code ec;
  auto token = asio::redirect_error(asio::use_awaitable, ec);
  beast::flat_buffer buffer(kMaxReadAheadBytes);
  bhttp::response_parser<bhttp::buffer_body> parser;
  parser.header_limit(kMaxHeaderBytes);
  parser.body_limit(boost::none);  // endless by design: each message is capped instead
  co_await bhttp::async_read_header(stream, buffer, parser, token);
  if (ec)
    co_return WatchEnd{{Errc::unavailable, where(endpoint) + ": answer: " + failure(ec)}, false};

  std::array<char, kWatchChunkBytes> chunk;
  // Reads the next piece of the body into `chunk`: its size, or 0 with ec set.
  auto read_some = [&]() -> asio::awaitable<std::size_t> {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    stream.expires_after(options_.watch_idle_timeout);
    co_await bhttp::async_read_some(stream, buffer, parser, token);
    if (ec == bhttp::error::need_buffer) ec = {};
    co_return ec ? 0 : chunk.size() - parser.get().body().size;
  };
  auto ended = [&](Errc code, std::string_view why) {
    return WatchEnd{{code, fmt::format("etcd watch: {}: {}", where(endpoint), why)}, true};
  };

  if (const unsigned status = parser.get().result_int(); status != 200) {
    std::string text;
    while (!parser.is_done() && text.size() < kMaxErrorBodyBytes) {
      const std::size_t n = co_await read_some();
      if (ec) break;
      text.append(chunk.data(), n);
    }
    auto error = error_from_answer(status, text, "watch");
    error.message = where(endpoint) + ": " + error.message;
    co_return WatchEnd{std::move(error), false};
  }
  LineSplitter splitter(options_.max_watch_message_bytes);
  for (;;) {
    while (auto line = splitter.next()) {
      auto response = parse_watch_response(*line);
      if (!response) {
        std::string_view why = response.error().message;
        if (why.starts_with("etcd watch: ")) why.remove_prefix(12);  // ended() names it
        co_return ended(response.error().code, why);
      }
      if (response->canceled)
        co_return ended(
            Errc::conflict,
            fmt::format("etcd canceled it (compact revision {}{}{})", response->compact_revision,
                        response->cancel_reason.empty() ? "" : ": ", response->cancel_reason));
      preferred_.store(at);
      on_response(*response);
    }
    if (parser.is_done()) co_return ended(Errc::unavailable, "the server ended the stream");
    const std::size_t n = co_await read_some();
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
        ec == asio::error::eof || ec == asio::error::connection_reset)
      co_return ended(Errc::unavailable, "the server closed the connection");
    if (ec == beast::error::timeout)
      co_return ended(Errc::unavailable,
                      fmt::format("silent for {} ms", options_.watch_idle_timeout.count()));
    if (is_http_error(ec))
      co_return ended(Errc::internal, "a malformed HTTP stream: " + ec.message());
    if (ec) co_return ended(Errc::unavailable, failure(ec));
    if (auto fed = splitter.feed(std::string_view(chunk.data(), n)); !fed)
      co_return ended(Errc::internal, fed.error().message);
  }
}

}  // namespace ztm::etcd
