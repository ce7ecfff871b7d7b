// LFU in O(1) per operation. Slots with equal counts share a bucket; the buckets form a list in
// ascending count order, so the victim is the front of the first bucket. A hit moves the slot
// from its bucket (count c) to the back of the bucket for c + 1, creating that bucket when it is
// missing. Within a bucket, slots are in the order they reached the count, which is the order of
// their last touch: ties go to the least recently touched.
//
// Buckets come from a pool holding one bucket per slot index. A bucket in use is never empty, so
// no more buckets are in use than live slots, and a hit always finds a free one without
// allocating.

#include <cassert>

#include "cache/local/eviction_policy.h"
#include "cache/local/slot_list.h"

namespace ztm::cache {
namespace {

class LfuPolicy final : public EvictionPolicy {
 public:
  void on_insert(Slot slot, std::uint64_t /*key_hash*/) override {
    grow(slot);
    std::uint32_t b = first_;
    if (b == kNoSlot || buckets_[b].count != 1) b = take_bucket(1, kNoSlot, first_);
    enter(slot, b);
  }

  void on_access(Slot slot) override {
    const std::uint32_t b = bucket_of_[slot];
    const std::uint64_t count = buckets_[b].count;
    const std::uint32_t next = buckets_[b].next;
    if (next != kNoSlot && buckets_[next].count == count + 1) {
      leave(slot);
      enter(slot, next);
    } else if (buckets_[b].slots.only(slot)) {
      // Alone in its bucket: the bucket itself moves up; the next bucket's count is > count + 1.
      buckets_[b].count = count + 1;
    } else {
      const std::uint32_t up = take_bucket(count + 1, b, next);
      leave(slot);
      enter(slot, up);
    }
  }

  void on_erase(Slot slot) override { leave(slot); }

  Slot victim() override {
    assert(first_ != kNoSlot);
    return buckets_[first_].slots.front();
  }

 private:
  struct Bucket {
    std::uint64_t count = 0;
    SlotList slots;
    std::uint32_t prev = kNoSlot;  // neighbours in ascending count order
    std::uint32_t next = kNoSlot;  // for a free bucket: the next free one
  };

  // Grows the per-slot arrays, and the bucket pool with them, so that `slot` exists.
  void grow(Slot slot) {
    ensure_slot(links_, slot);
    bucket_of_.resize(links_.size(), kNoSlot);
    while (buckets_.size() < links_.size()) {
      Bucket fresh;
      fresh.next = free_;
      buckets_.push_back(fresh);
      free_ = static_cast<std::uint32_t>(buckets_.size() - 1);
    }
  }

  // Takes a bucket from the pool and links it between prev and next.
  std::uint32_t take_bucket(std::uint64_t count, std::uint32_t prev, std::uint32_t next) {
    assert(free_ != kNoSlot);
    const std::uint32_t b = free_;
    free_ = buckets_[b].next;
    buckets_[b] = Bucket{count, SlotList{}, prev, next};
    if (prev == kNoSlot) {
      first_ = b;
    } else {
      buckets_[prev].next = b;
    }
    if (next != kNoSlot) buckets_[next].prev = b;
    return b;
  }

  void enter(Slot slot, std::uint32_t b) {
    buckets_[b].slots.push_back(links_, slot);
    bucket_of_[slot] = b;
  }

  // Takes slot out of its bucket; a bucket left empty goes back to the pool.
  void leave(Slot slot) {
    const std::uint32_t b = bucket_of_[slot];
    Bucket& bucket = buckets_[b];
    bucket.slots.remove(links_, slot);
    bucket_of_[slot] = kNoSlot;
    if (!bucket.slots.empty()) return;
    if (bucket.prev == kNoSlot) {
      first_ = bucket.next;
    } else {
      buckets_[bucket.prev].next = bucket.next;
    }
    if (bucket.next != kNoSlot) buckets_[bucket.next].prev = bucket.prev;
    bucket = Bucket{};
    bucket.next = free_;
    free_ = b;
  }

  std::vector<SlotLink> links_;           // per slot: neighbours within its bucket
  std::vector<std::uint32_t> bucket_of_;  // per slot: its bucket, kNoSlot when not live
  std::vector<Bucket> buckets_;           // the pool, same size as links_
  std::uint32_t first_ = kNoSlot;         // the bucket with the lowest count
  std::uint32_t free_ = kNoSlot;          // the first free bucket
};

}  // namespace

std::unique_ptr<EvictionPolicy> make_lfu_policy() {
  return std::make_unique<LfuPolicy>();
}

}  // namespace ztm::cache
