#include "cache/local/eviction_policy.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <tuple>

#include "cache/local/local_cache_test_util.h"

namespace ztm::cache {
namespace {

TEST(ParseEvictionPolicy, KnownNames) {
  EXPECT_EQ(parse_eviction_policy("lru"), EvictionPolicyKind::lru);
  EXPECT_EQ(parse_eviction_policy("lfu"), EvictionPolicyKind::lfu);
  EXPECT_EQ(parse_eviction_policy("fifo"), EvictionPolicyKind::fifo);
  EXPECT_EQ(parse_eviction_policy("s3fifo"), EvictionPolicyKind::s3fifo);
  EXPECT_EQ(parse_eviction_policy("tinylfu"), EvictionPolicyKind::tinylfu);
  for (auto kind : {EvictionPolicyKind::lru, EvictionPolicyKind::lfu, EvictionPolicyKind::fifo,
                    EvictionPolicyKind::s3fifo, EvictionPolicyKind::tinylfu})
    EXPECT_EQ(parse_eviction_policy(to_string(kind)), kind);
}

TEST(ParseEvictionPolicy, RejectsOthers) {
  EXPECT_EQ(parse_eviction_policy(""), std::nullopt);
  EXPECT_EQ(parse_eviction_policy("LRU"), std::nullopt);
  EXPECT_EQ(parse_eviction_policy("lru "), std::nullopt);
  EXPECT_EQ(parse_eviction_policy("arc"), std::nullopt);
}

TEST(LruPolicy, EvictsLeastRecentlyUsed) {
  auto p = make_lru_policy();
  p->on_insert(0, 0);
  p->on_insert(1, 1);
  p->on_insert(2, 2);
  EXPECT_EQ(p->victim(), 0u);
  p->on_access(0);
  EXPECT_EQ(p->victim(), 1u);
  p->on_erase(1);
  EXPECT_EQ(p->victim(), 2u);
  p->on_access(2);
  EXPECT_EQ(p->victim(), 0u);
}

TEST(FifoPolicy, IgnoresHits) {
  auto p = make_fifo_policy();
  p->on_insert(0, 0);
  p->on_insert(1, 1);
  p->on_insert(2, 2);
  p->on_access(0);
  p->on_access(0);
  EXPECT_EQ(p->victim(), 0u);
  p->on_erase(0);
  EXPECT_EQ(p->victim(), 1u);
  p->on_insert(0, 0);  // a reused slot goes to the back
  p->on_erase(1);
  p->on_erase(2);
  EXPECT_EQ(p->victim(), 0u);
}

TEST(LfuPolicy, EvictsLeastFrequentlyUsed) {
  auto p = make_lfu_policy();
  p->on_insert(0, 0);
  p->on_insert(1, 1);
  p->on_insert(2, 2);
  p->on_access(0);
  p->on_access(0);
  p->on_access(1);
  EXPECT_EQ(p->victim(), 2u);  // counts: 0 -> 3, 1 -> 2, 2 -> 1
  p->on_erase(2);
  EXPECT_EQ(p->victim(), 1u);
  p->on_access(1);
  p->on_access(1);  // 1 -> 4 overtakes 0 -> 3
  EXPECT_EQ(p->victim(), 0u);
}

TEST(LfuPolicy, TiesGoToLeastRecentlyTouched) {
  auto p = make_lfu_policy();
  p->on_insert(0, 0);
  p->on_insert(1, 1);
  EXPECT_EQ(p->victim(), 0u);
  p->on_access(0);
  p->on_access(1);  // both at 2; 0 was touched first
  EXPECT_EQ(p->victim(), 0u);
  p->on_access(1);
  p->on_access(0);  // both at 3; 1 was touched first
  EXPECT_EQ(p->victim(), 1u);
}

TEST(LfuPolicy, ReusedSlotStartsAtOne) {
  auto p = make_lfu_policy();
  p->on_insert(0, 0);
  p->on_insert(1, 1);
  for (int i = 0; i < 5; ++i) p->on_access(0);
  p->on_access(1);
  p->on_erase(0);
  p->on_insert(0, 0);  // a new entry in the same slot: its old count is gone
  EXPECT_EQ(p->victim(), 0u);
}

// A slow, obviously right model of each policy, to compare against on random sequences.
class ModelPolicy {
 public:
  explicit ModelPolicy(EvictionPolicyKind kind) : kind_(kind) {}
  void insert(std::uint32_t s) { live_[s] = Info{++tick_, tick_, 1}; }
  void access(std::uint32_t s) {
    Info& i = live_.at(s);
    i.touched = ++tick_;
    ++i.count;
  }
  void erase(std::uint32_t s) { live_.erase(s); }
  bool live(std::uint32_t s) const { return live_.count(s) != 0; }
  bool empty() const { return live_.empty(); }
  std::uint32_t victim() const {
    auto rank = [&](const Info& i) {
      switch (kind_) {
        case EvictionPolicyKind::lru:
          return std::tuple(std::uint64_t{0}, i.touched);
        case EvictionPolicyKind::fifo:
          return std::tuple(std::uint64_t{0}, i.inserted);
        case EvictionPolicyKind::lfu:
          return std::tuple(i.count, i.touched);
        case EvictionPolicyKind::s3fifo:  // not modelled: scan_resistant_policy_test.cc
        case EvictionPolicyKind::tinylfu:
          break;
      }
      return std::tuple(std::uint64_t{0}, std::uint64_t{0});
    };
    auto best = live_.begin();
    for (auto it = live_.begin(); it != live_.end(); ++it)
      if (rank(it->second) < rank(best->second)) best = it;
    return best->first;
  }

 private:
  struct Info {
    std::uint64_t inserted, touched, count;
  };
  EvictionPolicyKind kind_;
  std::map<std::uint32_t, Info> live_;
  std::uint64_t tick_ = 0;
};

class EvictionPolicyModelTest : public ::testing::TestWithParam<EvictionPolicyKind> {};

TEST_P(EvictionPolicyModelTest, MatchesModelOnRandomSequences) {
  auto policy = make_eviction_policy(GetParam());
  ModelPolicy model(GetParam());
  std::mt19937 rng(42);
  std::uniform_int_distribution<std::uint32_t> slot_of(0, 63);
  std::uniform_int_distribution<int> percent(0, 99);
  for (int step = 0; step < 50'000; ++step) {
    const std::uint32_t s = slot_of(rng);
    const int roll = percent(rng);
    if (!model.live(s)) {
      policy->on_insert(s, s);
      model.insert(s);
    } else if (roll < 70) {
      policy->on_access(s);
      model.access(s);
    } else if (roll < 85) {
      policy->on_erase(s);
      model.erase(s);
    } else {
      const auto v = model.victim();  // evict, as a full shard would
      ASSERT_EQ(policy->victim(), v) << "step " << step;
      policy->on_erase(v);
      model.erase(v);
    }
    if (!model.empty()) {
      ASSERT_EQ(policy->victim(), model.victim()) << "step " << step;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, EvictionPolicyModelTest,
                         ::testing::Values(EvictionPolicyKind::lru, EvictionPolicyKind::lfu,
                                           EvictionPolicyKind::fifo),
                         testing_util::policy_name);

}  // namespace
}  // namespace ztm::cache
