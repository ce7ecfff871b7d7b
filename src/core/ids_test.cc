#include "core/ids.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "core/manual_clock.h"

namespace ztm {
namespace {

// A clock frozen at `unix_ms`.
ManualClock at(std::int64_t unix_ms) {
  return ManualClock(std::chrono::system_clock::time_point(std::chrono::milliseconds(unix_ms)));
}

TEST(IdGenerator, IdsFitIn53BitsAndDecode) {
  const std::int64_t now = IdGenerator::kEpochMs + 123456789;
  const ManualClock clock = at(now);
  IdGenerator gen(77, clock);
  const auto id = gen.next();
  EXPECT_GT(id, 0);
  EXPECT_LE(id, kMaxSafeInteger);
  const auto parts = IdGenerator::decode(id);
  EXPECT_EQ(parts.unix_ms, now);
  EXPECT_EQ(parts.node, 77);
  EXPECT_EQ(parts.sequence, 0);
}

TEST(IdGenerator, LastRepresentableMillisecondStaysWithin53Bits) {
  const std::int64_t last_ms =
      IdGenerator::kEpochMs + (std::int64_t{1} << IdGenerator::kTimeBits) - 1;
  const ManualClock clock = at(last_ms);
  IdGenerator gen(IdGenerator::kMaxNode, clock);
  EXPECT_LE(gen.next(), kMaxSafeInteger);
}

TEST(IdGenerator, BurstBeyondSequenceBorrowsNextMillisecondAndStaysIncreasing) {
  const std::int64_t now = IdGenerator::kEpochMs + 1000;
  const ManualClock clock = at(now);
  IdGenerator gen(3, clock);
  std::int64_t prev = 0;
  for (int i = 0; i < 1000; ++i) {  // 1000 ids in one frozen millisecond: 64 per ms
    const auto id = gen.next();
    ASSERT_GT(id, prev);
    prev = id;
  }
  EXPECT_EQ(IdGenerator::decode(prev).unix_ms, now + 1000 / 64);
}

TEST(IdGenerator, ClockGoingBackwardsNeverRepeats) {
  ManualClock clock = at(IdGenerator::kEpochMs + 5000);
  IdGenerator gen(1, clock);
  const auto a = gen.next();
  clock.step_wall(-std::chrono::seconds(3));
  const auto b = gen.next();
  EXPECT_GT(b, a);
}

TEST(IdGenerator, DifferentNodesNeverCollide) {
  const ManualClock clock = at(IdGenerator::kEpochMs + 42);
  IdGenerator a(1, clock), b(2, clock);
  std::set<std::int64_t> seen;
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(seen.insert(a.next()).second);
    ASSERT_TRUE(seen.insert(b.next()).second);
  }
}

TEST(IdGenerator, UniqueAcrossThreads) {
  IdGenerator gen(5);
  std::vector<std::vector<std::int64_t>> out(4);
  std::vector<std::thread> threads;
  for (auto& v : out)
    threads.emplace_back([&gen, &v] {
      for (int i = 0; i < 20000; ++i) v.push_back(gen.next());
    });
  for (auto& t : threads) t.join();
  std::set<std::int64_t> all;
  for (auto& v : out) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), 80000u);
}

TEST(IdGenerator, RejectsNodeOutOfRange) {
  EXPECT_THROW(IdGenerator(128), std::invalid_argument);
  EXPECT_THROW(IdGenerator(-1), std::invalid_argument);
}

}  // namespace
}  // namespace ztm
