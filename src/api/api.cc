#include "api/api.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <chrono>

#include "api/errors.h"
#include "core/log.h"
#include "core/thread_ordinal.h"

namespace ztm::api {

using app::PhotoService;
using app::Readiness;
using app::UserService;

using http::Response;
using http::Verb;

struct Api::EndpointMetrics {
  Labels labels;
  Histogram* latency = nullptr;
  // Counters by status code, created on first use (a status seen once stays cheap after).
  std::array<std::atomic<Counter*>, 600> by_status{};
};

Api::Api(ApiOptions options, UserService& users, Auth& auth, PhotoService& photos,
         app::FollowService& follows, app::PurchaseService& purchases, app::KpiService& kpis,
         Readiness& readiness, MetricsRegistry& metrics, const StaticFiles* static_files)
    : options_(std::move(options)),
      cache_policy_(options_.cache, auth),
      auth_(auth),
      cdn_json_(options_.edges, options_.edge_networks),
      users_(users, auth, cache_policy_, options_.max_json_depth),
      accounts_(auth, users, options_.max_json_depth),
      photos_(auth, photos, cache_policy_, options_.max_json_depth),
      follows_(auth, follows, cache_policy_),
      purchases_(auth, purchases, options_.max_json_depth),
      admin_(auth, kpis, options_.max_json_depth),
      readiness_(readiness),
      metrics_(metrics),
      static_files_(static_files),
      id_prefix_(std::random_device{}()) {
  add_routes();
  auto make_metrics = [&](std::string method, std::string route) {
    auto m = std::make_unique<EndpointMetrics>();
    m->labels = {{"method", std::move(method)}, {"route", std::move(route)}};
    m->latency = &metrics_.histogram("ztm_http_request_duration_seconds",
                                     "Time from a parsed request to its response.", m->labels);
    return m;
  };
  for (const auto& e : router_.endpoints())
    endpoint_metrics_.push_back(
        make_metrics(std::string(http::bhttp::to_string(e.method)), e.pattern));
  endpoint_metrics_.push_back(make_metrics("other", "unmatched"));
}

AccessLog parse_access_log(std::string_view mode) {
  return mode == "all" ? AccessLog::all : mode == "off" ? AccessLog::off : AccessLog::errors;
}

Api::~Api() = default;

template <class Handler>
void Api::add_public_read(std::string pattern, Handler handler) {
  router_.add(Verb::get, std::move(pattern), std::move(handler));
  public_endpoints_.resize(router_.endpoints().size());
  public_endpoints_.back() = true;
}

// The route table: every route of the service, in one place.
void Api::add_routes() {
  // A handler that calls `member` of one of the resource handler objects.
  auto to = [](auto& handlers, auto member) {
    return [&handlers, member](http::Request& req) { return (handlers.*member)(req); };
  };
  add_public_read("/users", to(users_, &UsersApi::list));
  router_.add(Verb::post, "/users", to(users_, &UsersApi::create));
  add_public_read("/users/{id}", to(users_, &UsersApi::get));
  router_.add(Verb::put, "/users/{id}", to(users_, &UsersApi::replace));
  router_.add(Verb::patch, "/users/{id}", to(users_, &UsersApi::patch));
  router_.add(Verb::delete_, "/users/{id}", to(users_, &UsersApi::remove));
  router_.add(Verb::post, "/accounts", to(accounts_, &AccountsApi::sign_up));
  router_.add(Verb::post, "/sessions", to(accounts_, &AccountsApi::log_in));
  router_.add(Verb::delete_, "/sessions/current", to(accounts_, &AccountsApi::log_out));
  router_.add(Verb::get, "/me", to(accounts_, &AccountsApi::me));
  router_.add(Verb::post, "/users/{id}/photos", to(photos_, &PhotosApi::upload));
  add_public_read("/users/{id}/photos", to(photos_, &PhotosApi::list));
  router_.add(Verb::post, "/users/{id}/follow", to(follows_, &FollowsApi::follow));
  router_.add(Verb::delete_, "/users/{id}/follow", to(follows_, &FollowsApi::unfollow));
  add_public_read("/users/{id}/followers", to(follows_, &FollowsApi::followers));
  add_public_read("/users/{id}/following", to(follows_, &FollowsApi::following));
  add_public_read("/photos/{id}", to(photos_, &PhotosApi::get));
  router_.add(Verb::delete_, "/photos/{id}", to(photos_, &PhotosApi::remove));
  router_.add(Verb::post, "/photos/{id}/edits", to(photos_, &PhotosApi::edit));
  router_.add(Verb::get, "/jobs/{id}", to(photos_, &PhotosApi::job));
  add_public_read("/media/{key}", to(photos_, &PhotosApi::media));
  router_.add(Verb::get, "/plans", to(purchases_, &PurchasesApi::plans));
  router_.add(Verb::post, "/purchases", to(purchases_, &PurchasesApi::buy));
  router_.add(Verb::get, "/me/purchases", to(purchases_, &PurchasesApi::mine));
  router_.add(Verb::get, "/admin/kpis", to(admin_, &AdminApi::kpis));
  router_.add(Verb::put, "/admin/users/{id}/role", to(admin_, &AdminApi::set_role));
  router_.add(Verb::get, "/cdn.json",
              [this](http::Request& req) -> boost::asio::awaitable<Response> {
                Response res;
                res.body = cdn_json_.body_for(auth_.client_ip(req));
                // The answer depends on the client's address, which no cache key holds: browsers
                // may keep it a minute, shared caches (an edge, a proxy) never (docs/cdn.md's
                // policy table).
                res.header("Cache-Control", "private, max-age=60");
                co_return res;
              });

  router_.add(Verb::get, "/healthz", [](http::Request&) -> boost::asio::awaitable<Response> {
    Response res;
    res.body = R"({"status":"ok"})";
    co_return res;
  });
  router_.add(Verb::get, "/readyz", [this](http::Request& req) { return ready(req); });
  router_.add(Verb::get, "/metrics", [this](http::Request&) -> boost::asio::awaitable<Response> {
    Response res;
    res.content_type = "text/plain; version=0.0.4; charset=utf-8";
    res.body = metrics_.render();
    co_return res;
  });
}

boost::asio::awaitable<http::Admission> Api::admit(http::Request& head) {
  const auto start = options_.clock->steady_now();
  const auto match = router_.match(head);
  const auto method = head.msg.method();
  std::optional<Response> refusal;
  if (!match.handler && method != Verb::get && method != Verb::head) {
    refusal = unmatched(head, match);
  } else if (method == Verb::post && head.route == "/users/{id}/photos") {
    if (auto ok = co_await photos_.admit_upload(head); !ok)
      refusal = error_response(ok.error());
    else  // the image plus room for a multipart envelope
      co_return http::Admission{.body_limit = options_.max_upload_bytes + 64 * 1024};
  }
  if (!refusal) co_return http::Admission{};
  head.request_id = request_id(head);
  finish(match.endpoint, head, *refusal, start);
  co_return http::Admission{.refusal = std::move(refusal)};
}

boost::asio::awaitable<Response> Api::ready(http::Request&) {
  if (readiness_.draining()) {
    Response res = http::json_error(503, "draining", "the server is shutting down");
    co_return res;
  }
  if (auto fault = readiness_.fault(); !fault.empty()) {
    Response res = http::json_error(503, "backend_refused",
                                    "a backend refuses this server's credentials (see its log)");
    res.detail = std::move(fault);
    co_return res;
  }
  auto ping = co_await readiness_.data_tier();
  if (!ping) {
    Response res = http::json_error(503, "storage_unavailable", "the data tier is unavailable");
    res.detail = ping.error().message;
    co_return res;
  }
  Response res;
  res.body = R"({"status":"ready"})";
  co_return res;
}

// A request no route takes: a static file of the browser client, else 404 or 405.
Response Api::unrouted(const http::Request& req, const http::Router::Match& match) const {
  const auto method = req.msg.method();
  if (match.status == 404 && static_files_ && (method == Verb::get || method == Verb::head))
    if (auto file = static_files_->serve(req)) return std::move(*file);
  return unmatched(req, match);
}

Response Api::unmatched(const http::Request& req, const http::Router::Match& match) const {
  const std::string_view method(req.msg.method_string());
  if (match.status == 405) {
    Response res = http::json_error(405, "method_not_allowed",
                                    fmt::format("{} is not allowed on {}", method, req.route));
    res.header("Allow", match.allow);
    return res;
  }
  return http::json_error(404, "not_found",
                          fmt::format("no route for {} {}", method, req.path.substr(0, 200)));
}

http::Answer Api::handle(http::Request& req) {
  const auto start = options_.clock->steady_now();
  req.request_id = request_id(req);
  // The caller's trace when it sent a valid traceparent, else a new one (sampled at the rate
  // configured): the request's span is this server's work (core/trace.h).
  if (const auto caller = req.find_header("traceparent"))
    req.continue_trace(Trace::child_of(*caller));
  req.sample(sample_percent(options_.trace_sample_pct));
  const auto match = router_.match(req);
  // A handler that has its answer at once (a cache hit) costs no coroutine frame here either.
  // The answer is made in place and returned from one variable (no move of it: issue 12).
  http::Answer answer = [&]() -> http::Answer {
    if (!match.handler) return unrouted(req, match);
    try {
      return (*match.handler)(req);
    } catch (const std::exception& e) {
      return internal_error(e);
    }
  }();
  if (auto* ready = std::get_if<Response>(&answer))
    finish(match.endpoint, req, *ready, start);
  else
    answer = finish_later(match.endpoint, req,
                          std::move(std::get<boost::asio::awaitable<Response>>(answer)), start);
  return answer;
}

boost::asio::awaitable<Response> Api::finish_later(int endpoint, http::Request& req,
                                                   boost::asio::awaitable<Response> answer,
                                                   std::chrono::steady_clock::time_point start) {
  Response res;
  try {
    res = co_await std::move(answer);
  } catch (const std::exception& e) {
    res = internal_error(e);
  }
  finish(endpoint, req, res, start);
  co_return res;
}

Response Api::internal_error(const std::exception& e) {
  Response res = http::json_error(500, "internal", "internal error");
  res.detail = std::string("handler threw: ") + e.what();
  return res;
}

void Api::finish(int endpoint, http::Request& req, Response& res,
                 std::chrono::steady_clock::time_point start) {
  const double seconds =
      std::chrono::duration<double>(options_.clock->steady_now() - start).count();
  record(endpoint, req, res, seconds);
  if (req.sampled()) log_span(endpoint, req, res, seconds);
  res.header("X-Request-Id", req.request_id);
  // CORS without credentials (`*`): a credentialed request can never read an answer this way.
  if (endpoint >= 0 && static_cast<std::size_t>(endpoint) < public_endpoints_.size() &&
      public_endpoints_[static_cast<std::size_t>(endpoint)]) {
    res.header_lines(
        "Access-Control-Allow-Origin: *\r\n"
        "Access-Control-Expose-Headers: ETag, Age, X-Cache, X-Served-By\r\n");
  }
  if (options_.on_write && res.status < 400 && req.msg.method() != Verb::get &&
      req.msg.method() != Verb::head)
    options_.on_write();
  // Every answer says who may store it: what no handler chose, nobody may (errors, writes).
  if (res.header("Cache-Control").empty()) CachePolicy::no_store(res);
}

void Api::record(int endpoint, http::Request& req, const Response& res, double seconds) {
  auto& m = endpoint >= 0 ? *endpoint_metrics_[static_cast<std::size_t>(endpoint)]
                          : *endpoint_metrics_.back();
  m.latency->observe(seconds);
  auto& slot = m.by_status[res.status < 600 ? res.status : 599];
  Counter* counter = slot.load(std::memory_order_acquire);
  if (!counter) {
    Labels labels = m.labels;
    labels.emplace_back("code", std::to_string(res.status));
    counter =
        &metrics_.counter("ztm_http_requests_total", "HTTP requests by route and status.", labels);
    slot.store(counter, std::memory_order_release);
  }
  counter->inc();

  const bool slow = seconds * 1000 >= options_.slow_ms;
  // A 5xx is always logged, with what went wrong (never in its body): the request id in the
  // client's X-Request-Id finds it.
  if (options_.access_log == AccessLog::all || res.status >= 500 ||
      (options_.access_log == AccessLog::errors && (res.status >= 400 || slow))) {
    boost::json::object fields{{"request_id", req.request_id},
                               {"method", std::string_view(req.msg.method_string())},
                               {"path", req.path},
                               {"route", req.route},
                               {"status", res.status},
                               {"duration_us", static_cast<std::int64_t>(seconds * 1e6)}};
    fields.emplace("trace_id", req.trace().trace_id());
    fields.emplace("span_id", req.trace().span_id());
    if (!res.detail.empty()) fields.emplace("detail", res.detail);
    log::write(res.status >= 500 ? spdlog::level::err : spdlog::level::info, "request", fields);
  }
}

// A sampled request's span as a log record (docs/observability.md): `ztm trace` draws the
// waterfall of a trace from these, across processes.
void Api::log_span(int endpoint, http::Request& req, const Response& res, double seconds) {
  const auto& labels = endpoint >= 0 ? endpoint_metrics_[static_cast<std::size_t>(endpoint)]->labels
                                     : endpoint_metrics_.back()->labels;
  const auto started =
      options_.clock->now() -
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::duration<double>(seconds));
  log::span(req.trace(), fmt::format("{} {}", labels[0].second, labels[1].second), req.request_id,
            started, seconds, {{"status", res.status}});
}

// X-Request-Id from the client when it is safe to echo (1..128 of [A-Za-z0-9._:-]), else ours.
std::string_view Api::request_id(http::Request& req) {
  if (const auto theirs = req.find_header("X-Request-Id")) {
    const std::string_view v = *theirs;
    bool ok = !v.empty() && v.size() <= 128;
    for (char ch : v)
      ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' ||
                  ch == ':' || ch == '-');
    if (ok) return v;
  }
  // Our own: a prefix, then a counter, in hex, each at least 8 digits. Each thread counts on its
  // own (no shared atomic per request, issue 12) under its own prefix: the process's random one
  // plus the thread's ordinal, written out once a thread (per Api: tests make several).
  thread_local std::uint64_t next = 0;
  thread_local std::uint32_t prefix = 0;
  thread_local std::array<char, 8> prefix_digits{};
  const auto hex = [](char* at, std::uint64_t n) {
    if (n <= 0xffff'ffff) {  // 8 digits, zero-padded: nearly always
      for (int i = 7; i >= 0; --i, n >>= 4) at[i] = "0123456789abcdef"[n & 15];
      return at + 8;
    }
    return std::to_chars(at, at + 16, n, 16).ptr;
  };
  if (const auto mine = static_cast<std::uint32_t>(id_prefix_ + thread_ordinal());
      mine != prefix || prefix_digits[0] == 0) {
    prefix = mine;
    hex(prefix_digits.data(), mine);
  }
  auto& ours = req.request_id_buffer;
  char* end = std::copy(prefix_digits.begin(), prefix_digits.end(), ours.data());
  end = hex(end, next++);
  return {ours.data(), static_cast<std::size_t>(end - ours.data())};
}

}  // namespace ztm::api
