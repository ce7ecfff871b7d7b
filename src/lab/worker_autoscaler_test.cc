// The worker autoscaler's policy (autoscaler.h) with an injected clock: one sample a second.
#include <gtest/gtest.h>

#include "lab/autoscaler.h"

namespace ztm::lab {
namespace {

using namespace std::chrono_literals;
using Clock = WorkerAutoscaler::Clock;

TEST(StreamMessages, ReadsTheJobStreamFromJsz) {
  const std::string jsz = R"({"streams":2,"account_details":[{"name":"$G","stream_detail":[
      {"name":"ZTM_JOBS_DEAD","state":{"messages":7}},
      {"name":"ZTM_JOBS","state":{"messages":42,"bytes":100}}]}]})";
  EXPECT_EQ(stream_messages(jsz, "ZTM_JOBS"), 42);
  EXPECT_EQ(stream_messages(R"({"account_details":[{"name":"$G"}]})", "ZTM_JOBS"), 0)
      << "no stream yet";
  EXPECT_EQ(stream_messages("not json", "ZTM_JOBS"), std::nullopt);
}

struct Feed {
  WorkerAutoscaler scaler;
  WorkerAutoscalePolicy policy{.enabled = true, .min = 1, .max = 3, .up_pending = 20};
  Clock::time_point now = Clock::time_point{} + 1h;

  WorkerAutoscaler::Decision second(int workers, std::optional<std::int64_t> pending) {
    now += 1s;
    return scaler.sample(policy, pending, workers, now);
  }
};

TEST(WorkerAutoscaler, AddsAWorkerOnlyAfterTheQueueStayedDeep) {
  Feed f;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(f.second(1, 100).target, 1) << i;
  const auto d = f.second(1, 100);  // above since 3 s
  EXPECT_EQ(d.target, 2);
  EXPECT_NE(d.reason.find("100 jobs pending > 20 for 3 s"), std::string::npos) << d.reason;
  EXPECT_EQ(f.scaler.pending(), 100);
}

TEST(WorkerAutoscaler, ADipOrAnUnknownDepthStartsTheClockAgain) {
  Feed f;
  f.second(1, 100);
  f.second(1, 100);
  EXPECT_EQ(f.second(1, 10).target, 1);  // below the threshold: not "stayed above"
  f.second(1, 100);
  f.second(1, 100);
  EXPECT_EQ(f.second(1, std::nullopt).target, 1) << "NATS down: no decision";
  for (int i = 0; i < 4; ++i) EXPECT_EQ(f.second(1, 100).target, i < 3 ? 1 : 2) << i;
}

TEST(WorkerAutoscaler, RemovesOneWhenTheQueueStaysEmptyNeverBelowMin) {
  Feed f;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(f.second(3, 0).target, 3) << i;
  const auto d = f.second(3, 0);
  EXPECT_EQ(d.target, 2);
  EXPECT_NE(d.reason.find("queue empty for 5 s"), std::string::npos) << d.reason;
  f.scaler.changed(f.now);
  int target = 2;
  int seconds = 0;
  while (target == 2 && seconds < 20) target = f.second(2, 0).target, ++seconds;
  EXPECT_EQ(target, 1);
  EXPECT_EQ(seconds, 6) << "the cooldown (3 s) runs inside the 5 s the queue stays empty";
  for (int i = 0; i < 20; ++i) EXPECT_EQ(f.second(1, 0).target, 1) << "already at min";
  EXPECT_EQ(f.second(1, 3).target, 1) << "a few jobs pending: not empty, not deep";
}

TEST(WorkerAutoscaler, WaitsTheCooldownAndNeverExceedsMax) {
  Feed f;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(f.second(3, 500).target, 3) << "already at max";
  f.scaler.changed(f.now);
  f.policy.max = 4;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(f.second(3, 500).target, 3) << "cooldown, then 3 s above";
  EXPECT_EQ(f.second(3, 500).target, 4);
}

TEST(WorkerAutoscaler, RestoresMinFirst) {
  Feed f;
  const auto d = f.second(0, 0);
  EXPECT_EQ(d.target, 1);
  EXPECT_NE(d.reason.find("below min"), std::string::npos);
}

}  // namespace
}  // namespace ztm::lab
