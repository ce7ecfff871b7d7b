#include "lab/dashboard.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lab/control.h"
#include "lab/health.h"
#include "lab/http_listener.h"

namespace ztm::lab {

namespace {

constexpr std::size_t kMaxFile = 4 << 20;        // the page's largest file
constexpr std::size_t kMaxPrometheus = 8 << 20;  // a query's answer, headers included
constexpr std::chrono::seconds kPrometheusTimeout{10};
constexpr int kMaxConnections = 8;  // a browser opens up to 6 to one origin

// Same origin only; uPlot sizes its elements through style properties.
constexpr const char* kPolicy = "default-src 'self'; style-src 'self' 'unsafe-inline'";

DashboardRoute route(DashboardRoute::Kind kind, std::string target = "") {
  return {.kind = kind, .target = std::move(target)};
}

// A path of the page's own files: segments of [A-Za-z0-9._-], none empty or starting with '.'
// (so no "..", no hidden file, no percent-encoded trick: '%' is refused outright).
bool safe_file_path(std::string_view path) {
  std::size_t start = 0;
  for (;;) {
    const auto end = std::min(path.find('/', start), path.size());
    const auto segment = path.substr(start, end - start);
    if (segment.empty() || segment.front() == '.') return false;
    for (const char c : segment)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
        return false;
    if (end == path.size()) return true;
    start = end + 1;
  }
}

std::string content_type(const std::filesystem::path& file) {
  const std::string ext = file.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".json") return "application/json";
  return "application/octet-stream";
}

HttpReply file_reply(const DashboardSettings& s, const std::string& name) {
  const std::filesystem::path file = std::filesystem::path(s.page_dir) / name;
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec || !std::filesystem::is_regular_file(file, ec) || size > kMaxFile) {
    if (name == "index.html")
      return {.status = 404, .body = "the dashboard is not built: npm --prefix web run build\n"};
    return {.status = 404, .body = "not found\n"};
  }
  std::ifstream in(file, std::ios::binary);
  std::stringstream body;
  body << in.rdbuf();
  return {.content_type = content_type(file),
          .body = body.str(),
          .headers = {{"Cache-Control",
                       name == "index.html" ? "no-cache" : "public, max-age=31536000, immutable"},
                      {"Content-Security-Policy", kPolicy},
                      {"X-Content-Type-Options", "nosniff"}}};
}

HttpReply json_reply(int status, std::string body) {
  return {.status = status,
          .content_type = "application/json",
          .body = std::move(body),
          .headers = {{"Cache-Control", "no-store"}}};
}

HttpReply status_reply(const DashboardSettings& s) {
  auto status = live_status(s.lab_dir);
  if (!status)
    return json_reply(503, boost::json::serialize(boost::json::object{
                               {"error", "no lab is up (the supervisor does not answer)"}}));
  return json_reply(200, boost::json::serialize(*status));
}

// Prometheus's answer to `target`, status and body as they are (HTTP/1.0: never chunked).
HttpReply prometheus_reply(const DashboardSettings& s, const std::string& target) {
  const auto colon = s.prometheus.rfind(':');
  const std::string address = s.prometheus.substr(0, colon);
  const int port = std::atoi(s.prometheus.c_str() + colon + 1);
  const auto answer =
      exchange(address, port, "GET " + target + " HTTP/1.0\r\nHost: " + s.prometheus + "\r\n\r\n",
               kPrometheusTimeout, kMaxPrometheus + 1);
  const auto error = [](int status, const std::string& why) {
    return json_reply(status, boost::json::serialize(boost::json::object{
                                  {"status", "error"}, {"errorType", "proxy"}, {"error", why}}));
  };
  if (!answer || answer->empty()) return error(502, "Prometheus does not answer");
  if (answer->size() > kMaxPrometheus) return error(502, "Prometheus's answer is too large");
  const auto end = answer->find("\r\n\r\n");
  if (answer->rfind("HTTP/1.", 0) != 0 || answer->size() < 12 || end == std::string::npos)
    return error(502, "Prometheus's answer is not HTTP (or took more than 10 s)");
  return json_reply(std::atoi(answer->c_str() + 9), answer->substr(end + 4));
}

}  // namespace

DashboardRoute route_dashboard(std::string_view line) {
  using Kind = DashboardRoute::Kind;
  const auto sp1 = line.find(' ');
  const auto sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return route(Kind::bad_request);
  const auto method = line.substr(0, sp1);
  const auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (line.substr(sp2 + 1).rfind("HTTP/1.", 0) != 0 || target.empty() || target.front() != '/')
    return route(Kind::bad_request);
  for (const char c : target)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return route(Kind::bad_request);
  if (method != "GET") return route(Kind::bad_method);
  const auto path = target.substr(0, target.find('?'));
  if (path == "/api/status") return route(Kind::status);
  if (path == "/api/v1/query" || path == "/api/v1/query_range")
    return route(Kind::prometheus, std::string(target));
  if (path == "/healthz") return route(Kind::health);
  if (path == "/") return route(Kind::file, "index.html");
  if (!safe_file_path(path.substr(1))) return route(Kind::bad_request);
  if (path.rfind("/api/", 0) == 0) return route(Kind::not_found);
  return route(Kind::file, std::string(path.substr(1)));
}

std::string dashboard_dir() {
  if (const char* dir = std::getenv("ZTM_DASHBOARD_DIR"); dir && *dir) return dir;
  return ZTM_SOURCE_DASHBOARD_DIR;
}

int serve_dashboard(const DashboardSettings& settings) {
  using Kind = DashboardRoute::Kind;
  return serve_http(
      "dashboard", settings.address, settings.port, {.max_connections = kMaxConnections},
      [&settings](const std::string& line) -> HttpReply {
        const auto r = route_dashboard(line);
        switch (r.kind) {
          case Kind::file:
            return file_reply(settings, r.target);
          case Kind::status:
            return status_reply(settings);
          case Kind::prometheus:
            return prometheus_reply(settings, r.target);
          case Kind::health:
            return {.body = "ok\n"};
          case Kind::bad_request:
            return {.status = 400, .body = "bad request\n"};
          case Kind::bad_method:
            return {.status = 405, .body = "only GET\n", .headers = {{"Allow", "GET"}}};
          case Kind::not_found:
            break;
        }
        return {.status = 404, .body = "not found\n"};
      });
}

}  // namespace ztm::lab
