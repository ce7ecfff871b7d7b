#include "core/trace.h"

#include <gtest/gtest.h>

#include <set>

namespace ztm {
namespace {

constexpr const char* kHeader = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(Trace, ChildOfAValidHeaderKeepsTheTraceAndMakesItsOwnSpan) {
  auto t = Trace::child_of(kHeader);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t->parent_id(), "00f067aa0ba902b7");
  EXPECT_TRUE(t->sampled());
  EXPECT_EQ(t->span_id().size(), 16u);
  EXPECT_NE(t->span_id(), t->parent_id());
  EXPECT_EQ(t->traceparent(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-" + std::string(t->span_id()) + "-01");
  auto unsampled = Trace::child_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(unsampled);
  EXPECT_FALSE(unsampled->sampled());
}

TEST(Trace, InvalidHeadersAreRefused) {
  for (const char* bad :
       {"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",       // no flags
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",        // zero trace
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",        // zero parent
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",        // upper case
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // version ff
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // 00 has no more
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // separator
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"}) {     // not hex
    EXPECT_FALSE(Trace::child_of(bad)) << bad;
  }
  // A later version with more fields is read as version 00 (W3C: "future versions").
  EXPECT_TRUE(Trace::child_of("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-ab"));
}

TEST(Trace, StartedTracesAreDistinctAndWellFormed) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const Trace t = Trace::start(i % 2 == 0);
    EXPECT_TRUE(seen.insert(std::string(t.trace_id())).second);
    EXPECT_TRUE(t.parent_id().empty());
    auto again = Trace::child_of(t.traceparent());  // what a callee reads back
    ASSERT_TRUE(again) << t.traceparent();
    EXPECT_EQ(again->trace_id(), t.trace_id());
    EXPECT_EQ(again->parent_id(), t.span_id());
    EXPECT_EQ(again->sampled(), t.sampled());
  }
}

TEST(Trace, SamplePercentIsRoughlyThatShare) {
  int hits = 0;
  for (int i = 0; i < 100'000; ++i) hits += sample_percent(10) ? 1 : 0;
  EXPECT_GT(hits, 9'000);
  EXPECT_LT(hits, 11'000);
  EXPECT_FALSE(sample_percent(0));
  EXPECT_TRUE(sample_percent(100));
}

}  // namespace
}  // namespace ztm
