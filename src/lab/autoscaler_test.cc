#include "lab/autoscaler.h"

#include <gtest/gtest.h>

namespace ztm::lab {
namespace {

using namespace std::chrono_literals;
using Clock = Autoscaler::Clock;

TEST(ServedRequests, SumsRequestsButNotProbes) {
  const std::string metrics =
      "# TYPE ztm_http_requests_total counter\n"
      "ztm_http_requests_total{method=\"GET\",route=\"/users/{id}\",code=\"200\"} 120\n"
      "ztm_http_requests_total{method=\"POST\",route=\"/sessions\",code=\"201\"} 5\n"
      "ztm_http_requests_total{method=\"GET\",route=\"/readyz\",code=\"200\"} 999\n"
      "ztm_http_requests_total{method=\"GET\",route=\"/metrics\",code=\"200\"} 7\n"
      "ztm_http_request_duration_seconds_count{route=\"/users/{id}\"} 120\n";
  EXPECT_EQ(served_requests(metrics), 125);
  EXPECT_EQ(served_requests(""), 0);
}

// Feeds one sample a second in which every one of `servers` servers served `rps` more requests.
struct Feed {
  Autoscaler scaler;
  AutoscalePolicy policy{.enabled = true, .min = 2, .max = 4, .up_rps = 100, .down_rps = 20};
  Clock::time_point now = Clock::time_point{} + 1h;
  std::map<std::string, double> counts;

  Autoscaler::Decision second(int servers, double rps) {
    now += 1s;
    for (int i = 1; i <= servers; ++i) counts["web" + std::to_string(i)] += rps;
    for (auto it = counts.begin(); it != counts.end();)  // servers that left are not sampled
      it = std::stoi(it->first.substr(3)) > servers ? counts.erase(it) : std::next(it);
    return scaler.sample(policy, counts, servers, now);
  }
};

TEST(Autoscaler, AddsAServerOnlyAfterTheLoadStayedHigh) {
  Feed f;
  EXPECT_EQ(f.second(2, 500).target, 2);  // first sample: no rate yet
  EXPECT_EQ(f.second(2, 500).target, 2);  // above since now
  EXPECT_DOUBLE_EQ(f.scaler.load_rps(), 500);
  EXPECT_EQ(f.second(2, 500).target, 2);
  EXPECT_EQ(f.second(2, 500).target, 2);
  const auto d = f.second(2, 500);  // 3 s above up_rps
  EXPECT_EQ(d.target, 3);
  EXPECT_NE(d.reason.find("500 rps per server > 100"), std::string::npos) << d.reason;
}

TEST(Autoscaler, ABriefSpikeChangesNothing) {
  Feed f;
  f.second(2, 10);
  f.second(2, 10);
  EXPECT_EQ(f.second(2, 500).target, 2);
  EXPECT_EQ(f.second(2, 50).target, 2);  // between the thresholds: neither clock runs
  for (int i = 0; i < 5; ++i) EXPECT_EQ(f.second(2, 500).target, i < 3 ? 2 : 3) << i;
}

TEST(Autoscaler, WaitsTheCooldownAndNeverLeavesMinMax) {
  Feed f;
  f.second(4, 500);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(f.second(4, 500).target, 4) << "already at max";
  f.scaler.changed(f.now);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(f.second(4, 0).target, 4) << "cooldown, then a fresh rate";
  int target = 4;
  for (int i = 0; i < 10 && target == 4; ++i) target = f.second(4, 0).target;
  EXPECT_EQ(target, 3) << "6 s below down_rps after the cooldown";
  Feed low;
  low.second(2, 0);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(low.second(2, 0).target, 2) << "already at min";
}

TEST(Autoscaler, RestoresMinFirst) {
  Feed f;
  f.second(1, 0);
  const auto d = f.second(1, 0);
  EXPECT_EQ(d.target, 2);
  EXPECT_NE(d.reason.find("below min"), std::string::npos);
}

}  // namespace
}  // namespace ztm::lab
