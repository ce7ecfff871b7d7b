#pragma once
// Structured logs: one JSON object per line on stderr,
//   {"ts":"2026-11-24T10:00:00.123Z","level":"info","msg":"listening","port":8080}
// Built on spdlog's default logger (the one process-wide logging sink).

#include <spdlog/spdlog.h>

#include <boost/json/object.hpp>
#include <string_view>

namespace ztm::log {

// REQUIRES: level is one of trace|debug|info|warn|error|off.
void init(std::string_view level);

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

}  // namespace ztm::log
