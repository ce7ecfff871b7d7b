#include "cache/local/slot_index.h"

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>

namespace ztm::cache {
namespace {

// Random inserts and erases against a std::unordered_map, with hashes drawn from a small range so
// that many keys share a hash and runs wrap around the end of the table.
TEST(SlotIndex, MatchesAMapUnderChurn) {
  SlotIndex index;
  std::unordered_map<std::uint32_t, std::uint64_t> hash_of_slot;  // the model: live slot -> hash
  std::mt19937 rng(11);
  std::uniform_int_distribution<std::uint32_t> slot_of(0, 999);
  std::uniform_int_distribution<std::uint64_t> hash_in(0, 300);
  for (int step = 0; step < 200'000; ++step) {
    const std::uint32_t slot = slot_of(rng);
    const auto it = hash_of_slot.find(slot);
    if (it == hash_of_slot.end()) {
      const std::uint64_t hash = hash_in(rng) * 0x9E3779B97F4A7C15ULL;
      index.insert(hash, slot);
      hash_of_slot.emplace(slot, hash);
    } else {
      index.erase(it->second, slot);
      hash_of_slot.erase(it);
    }
    ASSERT_EQ(index.size(), hash_of_slot.size());
    if (step % 1000 == 0) {
      for (const auto& [s, h] : hash_of_slot)
        ASSERT_EQ(index.find(h, [s = s](std::uint32_t c) { return c == s; }), s) << step;
    }
  }
  // A hash nobody has, and a slot the predicate rejects, are both misses.
  EXPECT_EQ(index.find(12345, [](std::uint32_t) { return true; }), kNoSlot);
  for (const auto& [s, h] : hash_of_slot)
    EXPECT_EQ(index.find(h, [](std::uint32_t) { return false; }), kNoSlot);
}

}  // namespace
}  // namespace ztm::cache
