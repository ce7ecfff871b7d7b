#include "core/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace ztm {
namespace {

TEST(Metrics, RendersCountersGaugesAndHistograms) {
  MetricsRegistry r;
  r.counter("requests_total", "Requests.", {{"route", "/a"}}).inc(3);
  r.gauge("temperature", "Temp.").set(1.5);
  auto& h = r.histogram("latency_seconds", "Latency.", {{"route", "/a"}}, {0.1, 1});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  r.callback("answer", "The answer.", {}, [] { return 42.0; });
  const auto text = r.render();
  EXPECT_NE(text.find("# TYPE requests_total counter\nrequests_total{route=\"/a\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("temperature 1.5\n"), std::string::npos);
  EXPECT_NE(text.find("latency_seconds_bucket{route=\"/a\",le=\"0.1\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("latency_seconds_bucket{route=\"/a\",le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("latency_seconds_count{route=\"/a\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("latency_seconds_sum{route=\"/a\"} 5.55\n"), std::string::npos) << text;
  EXPECT_NE(text.find("answer 42\n"), std::string::npos);
}

// Counters and histograms are sharded by thread (kMetricShards lines, more threads than that
// share them): whatever the threads, a read sums every update exactly once.
TEST(Metrics, UpdatesFromMoreThreadsThanShardsAllAddUp) {
  MetricsRegistry r;
  Counter& c = r.counter("c_total", "c");
  Histogram& h = r.histogram("h_seconds", "h", {}, {0.001, 0.01, 0.1});
  constexpr int kThreads = static_cast<int>(kMetricShards) * 2 + 3, kEach = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        c.inc(2);
        h.observe(t % 2 ? 0.005 : 1.0);  // odd threads: bucket 0.01; even ones: +Inf
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 2u * kThreads * kEach);
  const int odd = kThreads / 2, even = kThreads - odd;
  EXPECT_EQ(h.cumulative(),
            (std::vector<std::uint64_t>{0, std::uint64_t(odd) * kEach, std::uint64_t(odd) * kEach,
                                        std::uint64_t(kThreads) * kEach}));
  EXPECT_NEAR(h.sum(), (odd * 0.005 + even * 1.0) * kEach, 1e-6);
  const std::string text = r.render();
  EXPECT_NE(text.find("c_total " + std::to_string(2 * kThreads * kEach)), std::string::npos)
      << text;
  EXPECT_NE(text.find("h_seconds_count " + std::to_string(kThreads * kEach)), std::string::npos)
      << text;
}

TEST(Metrics, SameNameAndLabelsIsTheSameMetric) {
  MetricsRegistry r;
  auto& a = r.counter("c_total", "C.", {{"x", "1"}});
  auto& b = r.counter("c_total", "C.", {{"x", "1"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &r.counter("c_total", "C.", {{"x", "2"}}));
  EXPECT_THROW(r.gauge("c_total", "C."), std::logic_error);
}

TEST(Metrics, LabelValuesAreEscaped) {
  MetricsRegistry r;
  r.counter("c_total", "C.", {{"path", "a\"b\\c\nd"}}).inc();
  EXPECT_NE(r.render().find(R"(c_total{path="a\"b\\c\nd"} 1)"), std::string::npos) << r.render();
}

TEST(Metrics, ProcessMetricsAreReadFromProc) {
  MetricsRegistry r;
  register_process_metrics(r);
  const auto text = r.render();
  EXPECT_NE(text.find("process_resident_memory_bytes "), std::string::npos);
  EXPECT_EQ(text.find("process_resident_memory_bytes 0\n"), std::string::npos);
  EXPECT_NE(text.find("process_open_fds "), std::string::npos);
}

}  // namespace
}  // namespace ztm
