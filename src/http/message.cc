#include "http/message.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <charconv>
#include <ctime>
#include <string>
#include <vector>

#include "core/utf8.h"

namespace ztm::http {

namespace {

// std::to_chars rather than fmt: no format string to parse on every response.
void append_number(std::string& out, std::uint64_t n) {
  char digits[20];
  const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  out.append(digits, end);
}

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
    if (closed || s.capacity() <= kSmall || s.capacity() > kMaxBytes || free_.size() >= kMaxBuffers)
      return;
    s.clear();
    free_.push_back(std::move(s));
  }

 private:
  // A string this short is held inline: no buffer to keep. (Not constexpr: clang cannot
  // evaluate libstdc++ 12's string constructor in a constant expression.)
  static inline const std::size_t kSmall = std::string().capacity();
  static constexpr std::size_t kMaxBytes = 16 * 1024;
  static constexpr std::size_t kMaxBuffers = 64;
  std::vector<std::string> free_;
  // Trivially destructible, so readable after the stock's end in the same thread.
  static thread_local bool closed;
};

thread_local bool BufferStock::closed = false;
thread_local BufferStock stock;

}  // namespace

Response::~Response() {
  stock.give(header_lines_);
  stock.give(body);
}

Response& Response::set_body(std::string_view bytes) {
  if (body.capacity() < bytes.size()) body = stock.take();
  body.assign(bytes);
  return *this;
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
  if (header_lines_.capacity() < 512) {  // a cached read's seven fit
    if (header_lines_.empty()) header_lines_ = stock.take();
    header_lines_.reserve(512);
  }
  header_lines_.append(name).append(": ").append(value).append("\r\n");
  return *this;
}

std::string_view Response::header(std::string_view name) const {
  std::string_view lines = header_lines_;
  while (!lines.empty()) {
    const auto end = lines.find("\r\n");
    const std::string_view line = lines.substr(0, end);
    if (line.size() > name.size() + 1 && line.starts_with(name) && line[name.size()] == ':')
      return line.substr(name.size() + 2);
    lines.remove_prefix(end + 2);
  }
  return {};
}

void serialize(const Response& res, std::string_view date, bool keep_alive, bool head,
               std::string& out) {
  const auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(res.status));
  out += "HTTP/1.1 ";
  append_number(out, res.status);
  out += ' ';
  out.append(reason.data(), reason.size());
  // nosniff: a browser never guesses a type other than Content-Type (an uploaded "image" that
  // sniffs as HTML must not run as a page).
  out += "\r\nServer: ztm\r\nX-Content-Type-Options: nosniff\r\nDate: ";
  out += date;
  out += "\r\n";
  const bool bodiless = !has_body(res.status);
  if (!bodiless) {
    out += "Content-Type: ";
    out += res.content_type;
    out += "\r\nContent-Length: ";
    append_number(out, res.stream ? res.stream->size() : res.body.size());
    out += "\r\n";
  }
  out += res.header_lines();
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  if (!bodiless && !head && !res.stream) out += res.body;
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
