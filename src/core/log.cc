#include "core/log.h"

#include <spdlog/sinks/stdout_sinks.h>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include "core/utf8.h"

namespace ztm::log {

void init(std::string_view level) {
  auto logger = spdlog::stderr_logger_mt("ztm");
  // The message part (%v) is the JSON fields after "ts" and "level", without braces.
  logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})",
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

}  // namespace ztm::log
