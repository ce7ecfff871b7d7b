#pragma once
// `ztm lab dashboard` (engine dashboard on the obs host, port 3000; docs/observability.md,
// "Dashboard"): serves the dashboard page (web/dashboard.html and web/src/dashboard/, built
// into web/dist/dashboard/), the lab's live status and Prometheus's query API, so the page
// needs one origin:
//   GET /                                  the page (dist/dashboard/index.html)
//   GET /assets/<name>                     its content-hashed files
//   GET /api/status                        what `ztm lab status --json` prints (the supervisor's)
//   GET /api/v1/query, /api/v1/query_range Prometheus's, passed on as they are (nothing else of
//                                          Prometheus: no admin API, no writes)
//   GET /healthz                           "ok" (the lab's health check; needs no build)
// Anything else: 404; a path with "..", "%", "\" or an empty segment: 400; not GET: 405.

#include <string>
#include <string_view>

namespace ztm::lab {

struct DashboardRoute {
  enum class Kind { file, status, prometheus, health, bad_request, not_found, bad_method };
  Kind kind = Kind::not_found;
  std::string target;  // file: relative to the page's directory; prometheus: path and query
};

// What a request line ("GET /api/status HTTP/1.1") asks for. No I/O: a file route names a file
// that may not exist.
DashboardRoute route_dashboard(std::string_view request_line);

// The built page: $ZTM_DASHBOARD_DIR, else the source tree's web/dist/dashboard (compiled in).
std::string dashboard_dir();

struct DashboardSettings {
  std::string address;  // to listen on: the obs host's
  int port = 3000;
  std::string lab_dir;     // whose supervisor /api/status asks
  std::string prometheus;  // "10.77.1.3:9090"
  std::string page_dir = dashboard_dir();
};

// Serves until killed (a few connections at once, each bounded: 8 KiB of request head, 2 s per
// read; Prometheus's answer 8 MiB and 10 s at most). Returns 1 when it cannot listen.
int serve_dashboard(const DashboardSettings& settings);

}  // namespace ztm::lab
