#include "core/hot_keys.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

namespace ztm {
namespace {

std::string key(int i) {
  return "user:" + std::to_string(i);
}

TEST(HotKeyDetector, FindsTheHeadOfAZipfStreamAndNothingInAUniformOne) {
  HotKeyDetector zipf({});
  // Zipf(0.9) over 100k keys by inverse CDF on a precomputed table: the top key gets ~4%.
  const int n = 100'000;
  std::vector<double> cdf(n);
  double sum = 0;
  for (int i = 0; i < n; ++i) cdf[i] = (sum += 1.0 / std::pow(i + 1, 0.9));
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(0, sum);
  for (int r = 0; r < 400'000; ++r)
    zipf.record(
        key(static_cast<int>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin())));
  const auto hot = zipf.hot_keys();
  ASSERT_FALSE(hot.empty());
  EXPECT_EQ(hot[0].key, key(0));
  EXPECT_TRUE(zipf.is_hot(key(0)));
  EXPECT_FALSE(zipf.is_hot(key(5000)));
  EXPECT_LE(hot.size(), 16u);
  for (const auto& h : hot) EXPECT_GE(h.share, 0.01) << h.key;

  HotKeyDetector uniform({});
  std::uniform_int_distribution<int> pick(0, n - 1);
  for (int r = 0; r < 400'000; ++r) uniform.record(key(pick(rng)));
  EXPECT_TRUE(uniform.hot_keys().empty());
}

TEST(HotKeyDetector, AKeyThatCoolsStopsBeingHot) {
  HotKeyDetector d({.sample_every = 1, .window = 1000});
  for (int r = 0; r < 5000; ++r) d.record(r % 2 ? key(7) : key(r));
  ASSERT_TRUE(d.is_hot(key(7)));
  EXPECT_GT(d.hot_share(key(7)), 0.3);
  for (int r = 0; r < 20'000; ++r) d.record(key(100'000 + r));  // key 7 is no longer asked for
  EXPECT_FALSE(d.is_hot(key(7)));
  EXPECT_EQ(d.hot_share(key(7)), 0);
}

TEST(HotKeyDetector, RejectsBadOptions) {
  EXPECT_THROW(HotKeyDetector({.sample_every = 0}), std::invalid_argument);
  EXPECT_THROW(HotKeyDetector({.hot_share = 0}), std::invalid_argument);
  EXPECT_THROW(HotKeyDetector({.capacity = 0}), std::invalid_argument);
}

}  // namespace
}  // namespace ztm
