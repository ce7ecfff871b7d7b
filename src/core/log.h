#pragma once
// Structured logs: one JSON object per line on stderr,
//   {"ts":"2026-11-24T10:00:00.123Z","level":"info","host":"web1","service":"ztm-web",
//    "msg":"listening","port":8080}
// Built on spdlog's default logger (the one process-wide logging sink). The lab ships these
// lines to its log host, where `ztm logs` searches them (docs/observability.md).

#include <spdlog/spdlog.h>

#include <boost/json/object.hpp>
#include <chrono>
#include <string_view>

#include "core/trace.h"

namespace ztm::log {

// REQUIRES: level is one of trace|debug|info|warn|error|off; host and service are plain names
// ([A-Za-z0-9.-]: written into the lines unescaped). host "" = the machine's hostname.
void init(std::string_view level, std::string_view host = "", std::string_view service = "ztm");

bool enabled(spdlog::level::level_enum level);
void write(spdlog::level::level_enum level, std::string_view msg,
           const boost::json::object& fields);

inline void info(std::string_view msg, const boost::json::object& fields = {}) {
  write(spdlog::level::info, msg, fields);
}
inline void warn(std::string_view msg, const boost::json::object& fields = {}) {
  write(spdlog::level::warn, msg, fields);
}
inline void error(std::string_view msg, const boost::json::object& fields = {}) {
  write(spdlog::level::err, msg, fields);
}

// A span of `trace` as a log record (docs/observability.md: `ztm trace` draws them):
//   {"msg":"span","name":..,"trace_id":..,"span_id":..,"parent_id":..,"request_id":..,
//    "start":"2026-12-05T10:00:00.123456Z","duration_us":..,<fields>}
// Written at info level whatever `trace.sampled()` says: the caller decides.
void span(const Trace& trace, std::string_view name, std::string_view request_id,
          std::chrono::system_clock::time_point start, double seconds,
          boost::json::object fields = {});

}  // namespace ztm::log
