// ztm bench URL: a bounded load generator. C keep-alive connections (one coroutine each, one
// event loop) send the same request until --requests have been sent or --duration has passed,
// whichever comes first; optionally paced to --rate requests per second in total. With
// --paths FILE the request's path is each line of the file in turn (many keys, not one). Prints one
// JSON summary line: ok, failed (by kind: connect, timeout, io, status_<code>), rps, latency
// percentiles, and the count per value of --server-header (which server answered).
//
// SIGTERM or SIGINT ends the run early: no new request is sent, the ones in flight finish, the
// summary is printed (tests run it in the background and stop it when their scenario is done).
// A failed request is counted, never retried; its connection is closed and the next request
// opens a new one. Any response that is not 2xx/3xx is a failure. HTTP only (curl tests TLS).
#include "cli/bench.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <csignal>
#include <fstream>
#include <map>
#include <optional>
#include <regex>

namespace ztm::cli {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct Options {
  std::string url;
  int requests = 1000;
  double duration_s = 10;
  int connections = 4;
  double rate = 0;  // requests per second in total; 0 = as fast as the server answers
  int timeout_ms = 2000;
  std::string method = "GET";
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
  std::string server_header;         // count answers per value of this response header
  bool progress = false;             // a {"ok":N,"failed":M} line on stderr every 250 ms
  std::string paths_file;            // request paths, one a line, taken in turn
};

// At most this many --paths lines, each at most this long, at most this much in all (the file
// is held in memory).
constexpr std::size_t kMaxPaths = 1'000'000;
constexpr std::size_t kMaxPathBytes = 8192;
constexpr std::size_t kMaxPathsFileBytes = 64 << 20;

struct Results {
  int sent = 0;
  int ok = 0;
  int failed = 0;
  std::map<std::string, int> failed_by;
  std::map<std::string, int> statuses;
  std::map<std::string, int> servers;
  std::vector<double> latency_ms;  // of the answered requests (ok or not)
};

// The client side of one run; single-threaded (all coroutines on one io_context).
class Load {
 public:
  // An empty `paths` keeps the request's own target.
  Load(const Options& o, tcp::endpoint endpoint, bhttp::request<bhttp::string_body> request,
       std::vector<std::string> paths)
      : o_(o), endpoint_(endpoint), request_(std::move(request)), paths_(std::move(paths)) {}

  Results run() {
    start_ = Clock::now();
    deadline_ = start_ + std::chrono::milliseconds(static_cast<long>(o_.duration_s * 1000));
    next_send_ = start_;
    signals_.async_wait([this](const boost::system::error_code& ec, int) {
      if (!ec) deadline_ = Clock::now();
    });
    running_ = o_.connections;
    for (int i = 0; i < o_.connections; ++i) asio::co_spawn(ioc_, worker(), asio::detached);
    if (o_.progress) asio::co_spawn(ioc_, report(), asio::detached);
    ioc_.run();
    elapsed_ = std::chrono::duration<double>(Clock::now() - start_).count();
    return std::move(r_);
  }
  double elapsed_s() const { return elapsed_; }

 private:
  // Takes the right to send one more request, setting its path (--paths); false when the count
  // or the time is used up.
  bool take(bhttp::request<bhttp::string_body>& request) {
    if (r_.sent >= o_.requests || Clock::now() >= deadline_) return false;
    if (!paths_.empty()) request.target(paths_[static_cast<std::size_t>(r_.sent) % paths_.size()]);
    ++r_.sent;
    return true;
  }

  void fail(const std::string& kind) {
    ++r_.failed;
    ++r_.failed_by[kind];
  }

  // With --rate: waits for this request's slot in the global schedule.
  asio::awaitable<void> pace() {
    if (o_.rate <= 0) co_return;
    const auto slot = next_send_;
    next_send_ += std::chrono::nanoseconds(static_cast<long>(1e9 / o_.rate));
    if (slot <= Clock::now()) co_return;
    asio::steady_timer timer(ioc_);
    timer.expires_at(slot);
    co_await timer.async_wait(use_tuple);
  }

  // With --progress: what has been answered so far, until the workers are done.
  asio::awaitable<void> report() {
    asio::steady_timer timer(ioc_);
    while (running_ > 0) {
      timer.expires_after(std::chrono::milliseconds(250));
      co_await timer.async_wait(use_tuple);
      fmt::print(stderr, "{{\"ok\":{},\"failed\":{}}}\n", r_.ok, r_.failed);
      std::fflush(stderr);
    }
  }

  asio::awaitable<void> worker() {
    std::optional<beast::tcp_stream> stream;
    beast::flat_buffer buffer;
    const auto timeout = std::chrono::milliseconds(o_.timeout_ms);
    bhttp::request<bhttp::string_body> request = request_;
    while (take(request)) {
      co_await pace();
      const auto started = Clock::now();
      if (!stream) {
        stream.emplace(ioc_);
        buffer.clear();
        stream->expires_after(timeout);
        auto [ec] = co_await stream->async_connect(endpoint_, use_tuple);
        if (ec) {
          fail(ec == beast::error::timeout ? "timeout" : "connect");
          stream.reset();
          continue;
        }
      }
      stream->expires_after(timeout);
      auto [write_ec, written] = co_await bhttp::async_write(*stream, request, use_tuple);
      bhttp::response<bhttp::string_body> response;
      beast::error_code read_ec = write_ec;
      if (!write_ec) {
        auto [ec, n] = co_await bhttp::async_read(*stream, buffer, response, use_tuple);
        read_ec = ec;
      }
      if (read_ec) {
        fail(read_ec == beast::error::timeout ? "timeout" : "io");
        stream.reset();
        continue;
      }
      r_.latency_ms.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - started).count());
      const int code = static_cast<int>(response.result_int());
      ++r_.statuses[std::to_string(code)];
      if (!o_.server_header.empty())
        if (auto it = response.find(o_.server_header); it != response.end())
          ++r_.servers[std::string(it->value())];
      if (code >= 200 && code < 400)
        ++r_.ok;
      else
        fail(fmt::format("status_{}", code));
      if (!response.keep_alive()) stream.reset();
    }
    if (--running_ == 0) signals_.cancel();  // the last worker lets the event loop end
  }

  const Options& o_;
  asio::io_context ioc_{1};
  asio::signal_set signals_{ioc_, SIGTERM, SIGINT};
  int running_ = 0;
  tcp::endpoint endpoint_;
  bhttp::request<bhttp::string_body> request_;
  std::vector<std::string> paths_;
  Clock::time_point start_, deadline_, next_send_;
  Results r_;
  double elapsed_ = 0;
};

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

boost::json::object counts(const std::map<std::string, int>& m) {
  boost::json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

// The --paths file's lines (blank lines skipped, a CR before the LF dropped), or nullopt after
// saying what is wrong.
std::optional<std::vector<std::string>> read_paths(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::string text;
  for (char chunk[1 << 16]; in && text.size() <= kMaxPathsFileBytes;) {
    in.read(chunk, sizeof chunk);
    text.append(chunk, static_cast<std::size_t>(in.gcount()));
  }
  if (!in.eof() || text.size() > kMaxPathsFileBytes) {  // not opened, a read error, or too long
    fmt::print(stderr, "ztm bench: cannot read --paths {} (or it is over {} bytes)\n", file,
               kMaxPathsFileBytes);
    return std::nullopt;
  }
  std::vector<std::string> paths;
  std::size_t line_no = 0;
  for (std::size_t at = 0; at < text.size();) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(at, end - at);
    at = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const bool printable = std::all_of(line.begin(), line.end(), [](unsigned char c) {
      return c > 0x20 && c < 0x7f;  // no space, control or non-ASCII byte in a request target
    });
    if (line.front() != '/' || !printable || line.size() > kMaxPathBytes ||
        paths.size() == kMaxPaths) {
      fmt::print(stderr,
                 "ztm bench: --paths {}: line {} must be a path starting with '/' of at most {} "
                 "printable ASCII bytes, and the file at most {} paths\n",
                 file, line_no, kMaxPathBytes, kMaxPaths);
      return std::nullopt;
    }
    paths.push_back(std::move(line));
  }
  if (paths.empty()) {
    fmt::print(stderr, "ztm bench: --paths {} has no path\n", file);
    return std::nullopt;
  }
  return paths;
}

int bench(const Options& o) {
  static const std::regex kUrl(R"(http://([0-9.]+)(?::([0-9]+))?(/.*)?)");
  std::smatch m;
  if (!std::regex_match(o.url, m, kUrl)) {
    fmt::print(stderr, "ztm bench: URL must be http://IPV4[:PORT][/PATH], not {}\n", o.url);
    return 2;
  }
  boost::system::error_code ec;
  const auto address = asio::ip::make_address_v4(m[1].str(), ec);
  if (ec) {
    fmt::print(stderr, "ztm bench: bad address {}\n", m[1].str());
    return 2;
  }
  const int port = m[2].matched ? std::stoi(m[2].str()) : 80;
  bhttp::request<bhttp::string_body> request;
  request.method_string(o.method);
  request.target(m[3].matched ? m[3].str() : "/");
  request.version(11);
  request.set(bhttp::field::host, m[1].str());
  request.set(bhttp::field::user_agent, "ztm-bench");
  for (const auto& h : o.headers) {
    const auto colon = h.find(':');
    if (colon == std::string::npos) {
      fmt::print(stderr, "ztm bench: --header must be \"Name: value\", not {}\n", h);
      return 2;
    }
    const auto value = h.find_first_not_of(' ', colon + 1);
    request.set(h.substr(0, colon), value == std::string::npos ? "" : h.substr(value));
  }
  if (!o.body.empty()) {
    if (request.find(bhttp::field::content_type) == request.end())
      request.set(bhttp::field::content_type, "application/json");
    request.body() = o.body;
  }
  request.prepare_payload();
  std::vector<std::string> paths;
  if (!o.paths_file.empty()) {
    auto read = read_paths(o.paths_file);
    if (!read) return 2;
    paths = std::move(*read);
  }

  Load load(o, tcp::endpoint(address, static_cast<std::uint16_t>(port)), std::move(request),
            std::move(paths));
  Results r = load.run();
  const double elapsed = load.elapsed_s();
  boost::json::object out = {
      {"requests", r.sent},
      {"ok", r.ok},
      {"failed", r.failed},
      {"failed_by", counts(r.failed_by)},
      {"status", counts(r.statuses)},
      {"duration_s", elapsed},
      {"rps", elapsed > 0 ? r.ok / elapsed : 0.0},
      {"p50_ms", percentile(r.latency_ms, 0.50)},
      {"p99_ms", percentile(r.latency_ms, 0.99)},
  };
  if (!o.server_header.empty()) out["servers"] = counts(r.servers);
  fmt::print("{}\n", boost::json::serialize(out));
  return 0;
}

class Bench final : public Subcommand {
 public:
  explicit Bench(CLI::App& app) {
    cmd_ = app.add_subcommand("bench",
                              "Send a bounded load to one URL and print a JSON summary "
                              "(ok, failed by kind, rps, p50/p99)");
    cmd_->add_option("url", o_.url, "http://IPV4[:PORT][/PATH]")->required();
    cmd_->add_option("-n,--requests", o_.requests, "at most this many requests")
        ->check(CLI::Range(1, 100'000'000));
    cmd_->add_option("-d,--duration", o_.duration_s, "at most this many seconds")
        ->check(CLI::Range(0.01, 86'400.0));
    cmd_->add_option("-c,--connections", o_.connections, "keep-alive connections")
        ->check(CLI::Range(1, 10'000));
    cmd_->add_option("--rate", o_.rate, "requests per second in total (0: unpaced)")
        ->check(CLI::Range(0.0, 1e7));
    cmd_->add_option("--timeout-ms", o_.timeout_ms, "per connect and per request")
        ->check(CLI::Range(1, 600'000));
    cmd_->add_option("-m,--method", o_.method, "HTTP method");
    cmd_->add_option("--body", o_.body, "request body (Content-Type application/json unless set)");
    cmd_->add_option("-H,--header", o_.headers, "\"Name: value\" (repeatable)");
    cmd_->add_option("--server-header", o_.server_header,
                     "count answers per value of this response header (e.g. X-Ztm-Server)");
    cmd_->add_option("--paths", o_.paths_file,
                     "a file of request paths (/users/1), one a line, sent in turn in place of "
                     "the URL's path");
    cmd_->add_flag("--progress", o_.progress,
                   "print {\"ok\":N,\"failed\":M} on stderr every 250 ms");
  }

  std::optional<int> run() override {
    if (!cmd_->parsed()) return std::nullopt;
    return bench(o_);
  }

 private:
  CLI::App* cmd_;
  Options o_;
};

}  // namespace

std::unique_ptr<Subcommand> add_bench_command(CLI::App& app) {
  return std::make_unique<Bench>(app);
}

}  // namespace ztm::cli
