// W-TinyLFU: an LRU window, a segmented LRU main, and a frequency sketch deciding admission
// (see eviction_policy.h). Targets are shares of the live entries: window 1%, protected 80% of
// main. Every insert and hit counts the key in the sketch.
//
// victim(): the window's LRU entry (the candidate) competes with main's LRU entry (probation
// first): if the sketch has seen the candidate more often, the main entry is the victim and the
// candidate moves to probation (when the window is over its target); otherwise the candidate is
// the victim. This is admission: a key seen once (a scan) loses to any main entry seen twice.

#include <algorithm>
#include <array>
#include <cassert>
#include <vector>

#include "cache/local/eviction_policy.h"
#include "cache/local/slot_list.h"
#include "cache/stable_hash.h"

namespace ztm::cache {
namespace {

// Count-min sketch with 4 rows of saturating 4-bit counts (one byte each, for simplicity), each
// row 4 x the slot count wide (Caffeine's 16 counters per entry). After 10 x slots additions every
// count is halved, so old popularity fades (a shifting working set is followed); until then an
// unrelated key adds 2.5 to a counter on average, and the minimum over 4 rows mostly filters it.
// Grown with the slot count, in on_insert only.
class FrequencySketch {
 public:
  void reserve(std::size_t slots) {
    const std::size_t want = power_of_two_at_least(4 * slots, 64);
    if (want <= width_) return;
    // A key's index in the wider row is its old index, or that plus the old width: copying each
    // row into every part of the wider one keeps every estimate as it was.
    for (auto& row : rows_) {
      row.resize(want);
      for (std::size_t i = width_; i < want; ++i) row[i] = width_ == 0 ? 0 : row[i % width_];
    }
    width_ = want;
  }
  void add(std::uint64_t hash) {
    for (std::size_t r = 0; r < kRows; ++r) {
      std::uint8_t& c = rows_[r][index(hash, r)];
      if (c < kMax) ++c;
    }
    if (++additions_ >= 10 * width_ / 4) age();
  }
  std::uint8_t estimate(std::uint64_t hash) const {
    std::uint8_t m = kMax;
    for (std::size_t r = 0; r < kRows; ++r) m = std::min(m, rows_[r][index(hash, r)]);
    return m;
  }

 private:
  static constexpr std::size_t kRows = 4;
  static constexpr std::uint8_t kMax = 15;

  // Double hashing: row r uses low + r * high (high forced odd, so rows differ).
  std::size_t index(std::uint64_t hash, std::size_t r) const {
    const std::uint64_t step = (hash >> 32) | 1;
    return static_cast<std::size_t>((hash + r * step) & (width_ - 1));
  }
  void age() {
    for (auto& row : rows_)
      for (auto& c : row) c = static_cast<std::uint8_t>(c >> 1);
    additions_ /= 2;
  }

  std::array<std::vector<std::uint8_t>, kRows> rows_;
  std::size_t width_ = 0;
  std::size_t additions_ = 0;
};

class TinyLfuPolicy final : public EvictionPolicy {
 public:
  void on_insert(Slot slot, std::uint64_t key_hash) override {
    ensure_slot(links_, info_, slot);
    sketch_.reserve(links_.size());
    const std::uint64_t hash = cache::mix64(key_hash);
    sketch_.add(hash);
    info_[slot] = Info{hash, kWindow};
    push(slot, kWindow);
  }

  void on_access(Slot slot) override {
    sketch_.add(info_[slot].hash);
    switch (info_[slot].segment) {
      case kProbation:
        move(slot, kProtected);
        if (size(kProtected) * 10 > (size(kProtected) + size(kProbation)) * 8)
          move(front(kProtected), kProbation);
        break;
      default:  // window, protected: to the back of their own list
        move(slot, info_[slot].segment);
        break;
    }
  }

  void on_erase(Slot slot) override {
    Info& i = info_[slot];
    segments_.remove(links_, slot, i.segment);
    i.segment = kNone;
  }

  Slot victim() override {
    const std::uint64_t live = size(kWindow) + size(kProbation) + size(kProtected);
    const std::uint64_t window_target = std::max<std::uint64_t>(1, live / 100);
    if (size(kProbation) + size(kProtected) == 0) {
      // First eviction: every entry so far came in through the window while the shard had
      // room. All but the window's share move to main, admitted unchecked as there was room.
      while (size(kWindow) > window_target) move(front(kWindow), kProbation);
      if (size(kProbation) == 0) return front(kWindow);
    }
    const Slot in_main = size(kProbation) != 0 ? front(kProbation) : front(kProtected);
    if (size(kWindow) == 0) return in_main;
    const Slot candidate = front(kWindow);
    if (sketch_.estimate(info_[candidate].hash) <= sketch_.estimate(info_[in_main].hash))
      return candidate;  // not admitted
    // Admitted. Below its target (after erases) the window keeps it; it moves on later.
    if (size(kWindow) > window_target) move(candidate, kProbation);
    return in_main;
  }

 private:
  static constexpr std::uint8_t kNone = 0, kWindow = 1, kProbation = 2, kProtected = 3;

  struct Info {
    std::uint64_t hash = 0;
    std::uint8_t segment = kNone;
  };

  std::uint64_t size(std::uint8_t segment) const { return segments_.size(segment); }
  Slot front(std::uint8_t segment) const { return segments_.front(segment); }
  void push(Slot slot, std::uint8_t segment) { segments_.push_back(links_, slot, segment); }
  // To the back of `segment` (its own: a move to the most recent end).
  void move(Slot slot, std::uint8_t segment) {
    segments_.move(links_, slot, info_[slot].segment, segment);
    info_[slot].segment = segment;
  }

  std::vector<SlotLink> links_;
  std::vector<Info> info_;  // by slot
  SlotQueues<4> segments_;  // by segment (kNone unused)
  FrequencySketch sketch_;
};

}  // namespace

std::unique_ptr<EvictionPolicy> make_tinylfu_policy() {
  return std::make_unique<TinyLfuPolicy>();
}

}  // namespace ztm::cache
