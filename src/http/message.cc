#include "http/message.h"

#include <fmt/format.h>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <ctime>

#include "core/utf8.h"

namespace ztm::http {

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

void serialize(const Response& res, std::string_view date, bool keep_alive, bool head,
               std::string& out) {
  const auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(res.status));
  out += "HTTP/1.1 ";
  fmt::format_to(std::back_inserter(out), "{} ", res.status);
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
    fmt::format_to(std::back_inserter(out), "\r\nContent-Length: {}\r\n",
                   res.stream ? res.stream->size() : res.body.size());
  }
  for (const auto& [name, value] : res.headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
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
