#include "core/log.h"

#include <fmt/chrono.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include "core/host_name.h"
#include "core/utf8.h"

namespace ztm::log {

void init(std::string_view level, std::string_view host, std::string_view service) {
  auto logger = spdlog::stderr_logger_mt("ztm");
  const std::string name = host_name(host);  // valid in a JSON line whatever the machine's name
  // The message part (%v) is the JSON fields after "ts", "level", "host" and "service", without
  // braces. Host and service are fixed for the process: part of the pattern, not of each write.
  logger->set_pattern(
      fmt::format(R"({{"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","host":"{}","service":"{}",%v}})",
                  name, service),
      spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

bool enabled(spdlog::level::level_enum level) {
  return spdlog::default_logger_raw()->should_log(level);
}

void write(spdlog::level::level_enum level, std::string_view msg,
           const boost::json::object& fields) {
  auto* logger = spdlog::default_logger_raw();
  if (!logger->should_log(level)) return;
  boost::json::object line;
  line.reserve(fields.size() + 1);
  line["msg"] = boost::json::string(msg);
  for (const auto& kv : fields) {
    // Fields may carry client input (a path, a header): keep the line valid JSON.
    if (const auto* s = kv.value().if_string(); s && utf8_valid_prefix(*s) != s->size())
      line[kv.key()] = valid_utf8(*s);
    else
      line[kv.key()] = kv.value();
  }
  std::string text = boost::json::serialize(line);
  // Strip the braces: the pattern supplies them around ts and level.
  logger->log(level, "{}", std::string_view(text).substr(1, text.size() - 2));
}

void span(const Trace& trace, std::string_view name, std::string_view request_id,
          std::chrono::system_clock::time_point start, double seconds, boost::json::object fields) {
  if (!enabled(spdlog::level::info)) return;
  fields.emplace("name", name);
  fields.emplace("trace_id", trace.trace_id());
  fields.emplace("span_id", trace.span_id());
  if (!trace.parent_id().empty()) fields.emplace("parent_id", trace.parent_id());
  if (!request_id.empty()) fields.emplace("request_id", request_id);
  const auto whole = std::chrono::floor<std::chrono::seconds>(start);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(start - whole).count();
  fields.emplace("start", fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:06}Z", whole, micros));
  fields.emplace("duration_us", static_cast<std::int64_t>(seconds * 1e6));
  write(spdlog::level::info, "span", fields);
}

}  // namespace ztm::log
