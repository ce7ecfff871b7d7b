// S3-FIFO: three FIFO queues (see eviction_policy.h for the algorithm and the paper).
//
// The small queue's target is 10% of the live entries. victim() evicts from the small queue
// while it is over its target (or main is empty), otherwise from main:
//  - small front read at least once: moves to main's back (not a victim, look again);
//    read never: the victim, and its key goes into the ghost when the shard erases it.
//  - main front with a count c > 0: goes to main's back with c - 1; with 0: the victim.
// Each pass either moves an entry out of the small queue or lowers a count (at most 3 per
// entry), so victim() ends; amortised it is O(1) per eviction.

#include <algorithm>
#include <atomic>
#include <cassert>
#include <vector>

#include "cache/local/eviction_policy.h"
#include "cache/local/slot_list.h"
#include "cache/stable_hash.h"

namespace ztm::cache {
namespace {

// The keys (by hash) of the last `capacity` entries evicted from the small queue. A table
// indexed by hash, each cell holding the hash and when it was added; a later key landing on the
// same cell overwrites it, which forgets a ghost early (a rare, harmless miss of the promotion).
// Sized to twice the slot count, so it grows only in on_insert and never allocates on eviction.
class GhostQueue {
 public:
  void reserve(std::size_t slots) {
    const std::size_t want = power_of_two_at_least(2 * slots, 16);
    if (want <= cells_.size()) return;
    cells_.assign(want, Cell{});  // forgetting the ghosts on growth only costs a few promotions
    mask_ = want - 1;
  }
  void add(std::uint64_t hash) { cells_[hash & mask_] = Cell{hash, ++added_}; }
  // True if hash was added among the last `capacity` adds; forgets it (a ghost is used once).
  bool take(std::uint64_t hash, std::uint64_t capacity) {
    if (cells_.empty()) return false;
    Cell& c = cells_[hash & mask_];
    if (c.added == 0 || c.hash != hash || added_ - c.added >= capacity) return false;
    c = Cell{};
    return true;
  }

 private:
  struct Cell {
    std::uint64_t hash = 0;
    std::uint64_t added = 0;  // 0: empty
  };
  std::vector<Cell> cells_;
  std::size_t mask_ = 0;
  std::uint64_t added_ = 0;
};

class S3FifoPolicy final : public EvictionPolicy {
 public:
  void on_insert(Slot slot, std::uint64_t key_hash) override {
    ensure_slot(links_, info_, slot);
    ghost_.reserve(links_.size());
    const std::uint64_t hash = cache::mix64(key_hash);
    const bool returning = ghost_.take(hash, std::max<std::uint64_t>(live(), 1));
    info_[slot] = Info{hash, 0, returning ? kMain : kSmall};
    queues_.push_back(links_, slot, info_[slot].queue);
  }

  // Hits may run on several threads at once (concurrent_hits): the count is bumped with relaxed
  // atomics, and two hits racing may count as one, which only matters below kMaxFreq.
  void on_access(Slot slot) override {
    std::atomic_ref<std::uint8_t> f(info_[slot].freq);
    const std::uint8_t seen = f.load(std::memory_order_relaxed);
    if (seen < kMaxFreq) f.store(static_cast<std::uint8_t>(seen + 1), std::memory_order_relaxed);
  }
  bool concurrent_hits() const override { return true; }

  void on_erase(Slot slot) override {
    Info& i = info_[slot];
    if (slot == pending_ && i.queue == kSmall) ghost_.add(i.hash);
    pending_ = kNoSlot;
    queues_.remove(links_, slot, i.queue);
    i.queue = kNone;
  }

  Slot victim() override {
    for (;;) {
      if (queues_.size(kMain) == 0 || queues_.size(kSmall) * 10 > live()) {
        const Slot s = queues_.front(kSmall);
        if (info_[s].freq == 0) return pending_ = s;
        move(s, kMain);
        info_[s].freq = 0;
      } else {
        const Slot m = queues_.front(kMain);
        if (info_[m].freq == 0) return pending_ = m;
        --info_[m].freq;
        move(m, kMain);
      }
    }
  }

 private:
  static constexpr std::uint8_t kNone = 0, kSmall = 1, kMain = 2;
  static constexpr std::uint8_t kMaxFreq = 3;

  struct Info {
    std::uint64_t hash = 0;
    std::uint8_t freq = 0;
    std::uint8_t queue = kNone;
  };

  std::uint64_t live() const { return queues_.size(kSmall) + queues_.size(kMain); }

  // Takes slot off its queue and appends it to `queue` (main to main: a reinsertion).
  void move(Slot slot, std::uint8_t queue) {
    queues_.move(links_, slot, info_[slot].queue, queue);
    info_[slot].queue = queue;
  }

  std::vector<SlotLink> links_;
  std::vector<Info> info_;  // by slot
  SlotQueues<3> queues_;    // by queue (kNone unused)
  GhostQueue ghost_;
  Slot pending_ = kNoSlot;  // the last victim() answer, until its on_erase
};

}  // namespace

std::unique_ptr<EvictionPolicy> make_s3fifo_policy() {
  return std::make_unique<S3FifoPolicy>();
}

}  // namespace ztm::cache
