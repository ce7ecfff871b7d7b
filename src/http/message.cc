#include "http/message.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cassert>
#include <charconv>
#include <ctime>
#include <string>
#include <vector>

#include "core/utf8.h"

namespace ztm::http {

namespace {

// Copies `s` to `at` and returns the end of the copy.
char* put(char* at, std::string_view s) {
  return std::copy(s.begin(), s.end(), at);
}

// A std::string this short is held inline: no buffer to keep. (Not std::string().capacity():
// clang cannot evaluate libstdc++ 12's string constructor in a constant expression.)
constexpr std::size_t kInlineCapacity = 15;

// The buffers of answered responses, kept per thread for the next ones (a response is made and
// serialized on one event loop): in steady state a response's header lines and body cost no
// allocation. Bounded in count and in the size of what is kept: 1 MiB a thread at most.
class BufferStock {
 public:
  ~BufferStock() { closed = true; }  // a Response destroyed after this (thread exit) keeps its own

  std::string take() {
    if (closed || free_.empty()) return {};
    std::string s = std::move(free_.back());
    free_.pop_back();
    return s;
  }
  void give(std::string& s) {
    if (closed || s.capacity() <= kInlineCapacity || s.capacity() > kMaxBytes ||
        free_.size() >= kMaxBuffers)
      return;
    free_.push_back(std::move(s));  // at its size, its bytes stale: a taker writes over them
  }

 private:
  static constexpr std::size_t kMaxBytes = 16 * 1024;
  static constexpr std::size_t kMaxBuffers = 64;
  std::vector<std::string> free_;
  // Trivially destructible, so readable after the stock's end in the same thread.
  static thread_local bool closed;
};

thread_local bool BufferStock::closed = false;
thread_local BufferStock stock;

}  // namespace

void give_buffer(std::string& buffer) {
  if (buffer.capacity() > kInlineCapacity) stock.give(buffer);
}

// A moved-from or short string has no buffer to give: such a response (most of those destroyed)
// does not touch the thread's stock at all.
Response::~Response() {
  give_buffer(lines_);
  give_buffer(body);
}

Response& Response::set_body(std::string_view bytes) {
  if (body.capacity() < bytes.size()) body = stock.take();
  body.assign(bytes);
  return *this;
}

std::string_view Request::header(Field f) const {
  for (const auto& field : msg)
    if (field.name() == f) return {field.value().data(), field.value().size()};
  return {};
}

std::optional<std::string_view> Request::find_header(std::string_view name) const {
  for (const auto& field : msg)
    if (field.name_string().size() == name.size() &&
        boost::beast::iequals(field.name_string(), name))
      return std::string_view(field.value().data(), field.value().size());
  return std::nullopt;
}

std::string_view Request::query_param(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    const auto amp = q.find('&');
    const std::string_view pair = q.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return {};
}

Response json_error(unsigned status, std::string_view code, std::string_view message) {
  Response res;
  res.status = status;
  boost::json::value v = {{"error", {{"code", code}, {"message", valid_utf8(message)}}}};
  res.body = boost::json::serialize(v);
  return res;
}

Response& Response::header(std::string_view name, std::string_view value) {
  put(put(put(put(grow_header_lines(name.size() + 2 + value.size() + 2), name), ": "), value),
      "\r\n");
  return *this;
}

Response& Response::header_lines(std::string_view lines) {
  put(grow_header_lines(lines.size()), lines);
  return *this;
}

// Makes room for `n` more bytes of header lines and returns where they go. One buffer of 512
// (a cached read's seven fit) from the thread's stock, grown only past that.
char* Response::grow_header_lines(std::size_t n) {
  const std::size_t at = lines_size_.n;
  if (at + n > lines_.size()) {
    if (lines_.empty()) lines_ = stock.take();
    lines_.resize(std::max({std::size_t{512}, lines_.size(), 2 * (at + n)}));
  }
  lines_size_.n = at + n;
  return lines_.data() + at;
}

std::string_view Response::header(std::string_view name) const {
  const std::string_view lines = header_lines();
  // Where `name` starts a line and ": " follows it (a search for the name, not a walk line by
  // line: finish() asks this of every answer).
  for (auto at = lines.find(name); at != std::string_view::npos; at = lines.find(name, at + 1)) {
    const auto value = at + name.size() + 2;
    if ((at == 0 || lines[at - 1] == '\n') && value <= lines.size() &&
        lines[at + name.size()] == ':')
      return lines.substr(value, lines.find("\r\n", value) - value);
  }
  return {};
}

// Sized first, then written in place: one growth of `out`, where an append a piece checked and
// grew it twenty times (issue 12). An `out` without a buffer takes one from the thread's stock.
void serialize(const Response& res, std::string_view date, bool keep_alive, bool head,
               std::string& out) {
  const auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(res.status));
  const bool bodiless = !has_body(res.status);
  const bool body = !bodiless && !head && !res.stream;
  char length[20];  // std::to_chars rather than fmt: no format string to parse on every answer
  const std::string_view length_digits(
      length, std::to_chars(length, length + sizeof length,
                            res.stream ? res.stream->size() : res.body.size())
                      .ptr -
                  length);
  // nosniff: a browser never guesses a type other than Content-Type (an uploaded "image" that
  // sniffs as HTML must not run as a page).
  constexpr std::string_view kFixed =
      "\r\nServer: ztm\r\nX-Content-Type-Options: nosniff\r\nDate: ";
  constexpr std::string_view kType = "Content-Type: ", kLength = "\r\nContent-Length: ",
                             kClose = "Connection: close\r\n";
  const std::size_t size = 9 + 3 + 1 + reason.size() + kFixed.size() + date.size() + 2 +
                           (bodiless ? 0
                                     : kType.size() + res.content_type.size() + kLength.size() +
                                           length_digits.size() + 2) +
                           res.header_lines().size() + (keep_alive ? 0 : kClose.size()) + 2 +
                           (body ? res.body.size() : 0);
  if (out.empty() && out.capacity() <= kInlineCapacity) {
    out = stock.take();  // the buffer given back last: still in the cache (give_buffer)
    out.clear();
  }
  const std::size_t start = out.size();
  out.resize(start + size);
  char* at = out.data() + start;
  at = put(at, "HTTP/1.1 ");
  const unsigned status = res.status % 1000;  // three digits: statuses are 100..599
  *at++ = static_cast<char>('0' + status / 100);
  *at++ = static_cast<char>('0' + status / 10 % 10);
  *at++ = static_cast<char>('0' + status % 10);
  *at++ = ' ';
  at = put(at, {reason.data(), reason.size()});
  at = put(at, kFixed);
  at = put(at, date);
  at = put(at, "\r\n");
  if (!bodiless) {
    at = put(at, kType);
    at = put(at, res.content_type);
    at = put(at, kLength);
    at = put(at, length_digits);
    at = put(at, "\r\n");
  }
  at = put(at, res.header_lines());
  if (!keep_alive) at = put(at, kClose);
  at = put(at, "\r\n");
  if (body) at = put(at, res.body);
  assert(at == out.data() + out.size());
}

std::string_view DateCache::now() {
  const std::time_t t = std::time(nullptr);
  if (t != last_) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    len_ = std::strftime(buf_, sizeof buf_, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    last_ = t;
  }
  return {buf_, len_};
}

}  // namespace ztm::http
