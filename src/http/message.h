#pragma once
// Requests and responses as the handlers see them. Parsing is Beast's (limits, chunked bodies);
// responses are serialized by us into one reused buffer per connection, so that a pipelined
// batch of responses goes out in one write.

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/trace.h"

namespace ztm::http {

namespace bhttp = boost::beast::http;
using Verb = bhttp::verb;
using Field = bhttp::field;

struct Request {
  bhttp::request<bhttp::string_body> msg;
  std::string_view path;                     // the target up to '?', pointing into msg
  std::string_view query;                    // after '?', may be empty
  std::array<std::string_view, 2> params{};  // values of {placeholders} in the matched route
  std::string_view route;         // the matched route pattern ("/users/{id}"), for metrics and logs
  boost::asio::ip::address peer;  // the connection's remote address (a proxy's, behind one)
  // Set by the API before a handler runs: who this request is in the logs (the client's
  // X-Request-Id, in msg, or one made in request_id_buffer), and its place in a trace
  // (core/trace.h), for what a handler hands on (a photo job's message).
  std::string_view request_id;
  std::array<char, 24> request_id_buffer{};

  // The request's place in a trace (core/trace.h): the caller's, when it sent a valid
  // traceparent, else one started on first use, sampled as decided when the request came in.
  // Made only when something asks (a log line, a span, a job handed on): a request nothing asks
  // it of, a cached read, spends nothing on ids (issue 12).
  const Trace& trace() {
    if (!trace_) trace_ = Trace::start(sample_);
    return *trace_;
  }
  bool sampled() const { return trace_ ? trace_->sampled() : sample_; }
  void continue_trace(std::optional<Trace> caller) { trace_ = std::move(caller); }
  void sample(bool yes) { sample_ = yes; }

  // A header's value ("" when absent), or with find_header, nullopt when absent: the first line
  // of that name. A walk over the request's header lines (a handful), cheaper than a lookup in
  // Beast's ordered set, which compares names case-insensitively at every step (issue 12).
  std::string_view header(Field f) const;
  std::string_view header(std::string_view name) const { return find_header(name).value_or(""); }
  std::optional<std::string_view> find_header(std::string_view name) const;
  // The value of `name` in the query string (not percent-decoded; our parameters are numbers).
  std::string_view query_param(std::string_view name) const;

 private:
  std::optional<Trace> trace_;
  bool sample_ = false;
};

// A body too large to hold, sent in pieces (GET /media): Content-Length says size(), then the
// server writes what next() returns, one piece at a time (each within the write timeout), so a
// connection holds one piece whatever the body's size and however slowly its client reads. The
// head is out before the first piece is asked for: a failing next() can only close the
// connection, and the client sees a body shorter than its Content-Length.
class BodyStream {
 public:
  virtual ~BodyStream() = default;
  virtual std::uint64_t size() const = 0;
  // The next piece: not empty, and no more than what remains of size(). Called only while
  // something remains, and never for HEAD or a bodiless status.
  virtual boost::asio::awaitable<Result<std::string>> next() = 0;
};

struct Response {
  Response() = default;
  Response(const Response&) = default;
  Response(Response&&) noexcept = default;
  Response& operator=(const Response&) = default;
  Response& operator=(Response&&) noexcept = default;
  ~Response();  // gives its buffers back to this thread's stock (message.cc)

  unsigned status = 200;
  std::string_view content_type = "application/json";  // must outlive the response (a literal)
  std::string body;
  std::shared_ptr<BodyStream> stream;  // when set, the body instead of `body`
  bool close = false;                  // close the connection after this response
  // What went wrong behind a 5xx, for the log line of the request (with its id); never sent.
  std::string detail;

  // Copies `bytes` into the body, in a buffer from this thread's stock when it has one: a cached
  // read's answer then allocates nothing (issue 12).
  Response& set_body(std::string_view bytes);
  // Adds a header line. Names are tokens (literals); values never hold CR or LF (ours, or checked
  // before: an echoed X-Request-Id is).
  Response& header(std::string_view name, std::string_view value);
  // Adds ready-made header lines, each "Name: value\r\n" (a constant block: one copy for all).
  Response& header_lines(std::string_view lines);
  // The first value of `name` (exact case), or "" when there is none.
  std::string_view header(std::string_view name) const;
  // The added headers as they go on the wire, "Name: value\r\n" each: adding one appends to
  // this one buffer (from the thread's stock, like set_body's: where a vector of strings took an
  // allocation per value and per growth), and serializing them is one copy (issue 12).
  std::string_view header_lines() const { return {lines_.data(), lines_size_.n}; }

 private:
  char* grow_header_lines(std::size_t n);
  // The header lines are the first lines_size_ bytes of lines_, which is kept at its full size
  // (it comes from the stock that way): adding a line writes into it, without the checks and
  // zero-filling of a std::string growing by each line (issue 12).
  std::string lines_;
  struct Size {  // 0 again in a response moved from: it takes lines_ along
    std::size_t n = 0;
    Size() = default;
    Size(const Size&) = default;
    Size& operator=(const Size&) = default;
    Size(Size&& other) noexcept : n(std::exchange(other.n, 0)) {}
    Size& operator=(Size&& other) noexcept {
      n = std::exchange(other.n, 0);
      return *this;
    }
  } lines_size_;
};

// The one shape of every error: {"error":{"code":"...","message":"..."}}. The message may echo
// client input: it is made valid UTF-8 first.
Response json_error(unsigned status, std::string_view code, std::string_view message);

// Whether a response with this status carries a body: 1xx, 204 and 304 do not (RFC 9110 §6.4.1).
inline bool has_body(unsigned status) {
  return status >= 200 && status != 204 && status != 304;
}

// Appends the serialized response to `out`. `date` is an IMF-fixdate; with `head` the body is
// left out but Content-Length still describes it. A stream's body is left to the caller. An
// empty `out` without a buffer of its own gets one from the thread's stock.
void serialize(const Response& res, std::string_view date, bool keep_alive, bool head,
               std::string& out);

// Gives an empty buffer's memory back to the thread's stock (the one responses' buffers come
// from and go back to), leaving `buffer` without one. A connection gives its output buffer back
// once its answers are sent: the next answer, on whichever connection, is then written into
// memory still in the cache, not into a buffer of its own that went cold while its client was
// away (issue 12).
void give_buffer(std::string& buffer);

// "Tue, 24 Nov 2026 10:00:00 GMT", recomputed at most once per second per instance.
class DateCache {
 public:
  std::string_view now();

 private:
  long last_ = -1;
  char buf_[32] = {};
  std::size_t len_ = 0;
};

}  // namespace ztm::http
