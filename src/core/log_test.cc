#include "core/log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <boost/json/parse.hpp>
#include <sstream>

namespace ztm {
namespace {

// The lines written while it lives, each as the JSON object the process's pattern makes of it.
class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>(
        "test", std::make_shared<spdlog::sinks::ostream_sink_st>(out_));
    logger->set_pattern("{%v}");
    spdlog::set_default_logger(logger);
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  boost::json::object line() { return boost::json::parse(out_.str()).as_object(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST(Log, ASpanRecordCarriesItsTraceAndWhenItStartedToTheMicrosecond) {
  CapturedLog log;
  const auto trace = Trace::child_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(trace);
  const auto start =
      std::chrono::system_clock::time_point(std::chrono::microseconds(1'764'939'600'123'456));
  log::span(*trace, "GET /users/{id}", "req-1", start, 0.0042, {{"status", 200}});
  const auto line = log.line();
  EXPECT_EQ(line.at("msg"), "span");
  EXPECT_EQ(line.at("name"), "GET /users/{id}");
  EXPECT_EQ(line.at("trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(line.at("span_id").as_string(), trace->span_id());
  EXPECT_EQ(line.at("parent_id"), "00f067aa0ba902b7");
  EXPECT_EQ(line.at("request_id"), "req-1");
  EXPECT_EQ(line.at("start"), "2025-12-05T13:00:00.123456Z");
  EXPECT_EQ(line.at("duration_us"), 4200);
  EXPECT_EQ(line.at("status"), 200);
}

TEST(Log, TheFirstSpanOfATraceHasNoParent) {
  CapturedLog log;
  log::span(Trace::start(true), "job edit", "", std::chrono::system_clock::now(), 1.5);
  const auto line = log.line();
  EXPECT_FALSE(line.contains("parent_id"));
  EXPECT_FALSE(line.contains("request_id"));
  EXPECT_EQ(line.at("duration_us"), 1'500'000);
}

}  // namespace
}  // namespace ztm
