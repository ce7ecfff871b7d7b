#pragma once
// Intrusive doubly linked lists of slot indices, the building block of the eviction policies.
// The links live in one array owned by the policy and shared by all its lists (a slot is on at
// most one list at a time), so linking and unlinking never allocate.

#include <array>
#include <cassert>
#include <cstdint>
#include <limits>
#include <vector>

namespace ztm::cache {

inline constexpr std::uint32_t kNoSlot = std::numeric_limits<std::uint32_t>::max();

struct SlotLink {
  std::uint32_t prev = kNoSlot;
  std::uint32_t next = kNoSlot;
};

// Grows links so that index `slot` exists (the only step that may allocate).
inline void ensure_slot(std::vector<SlotLink>& links, std::uint32_t slot) {
  if (slot >= links.size()) links.resize(std::size_t{slot} + 1);
}

// The same, with a per-slot array of the policy's kept alongside.
template <class PerSlot>
void ensure_slot(std::vector<SlotLink>& links, std::vector<PerSlot>& per_slot, std::uint32_t slot) {
  ensure_slot(links, slot);
  if (per_slot.size() < links.size()) per_slot.resize(links.size());
}

class SlotList {
 public:
  bool empty() const { return head_ == kNoSlot; }
  std::uint32_t front() const { return head_; }
  // True when the list holds exactly `slot`.
  bool only(std::uint32_t slot) const { return head_ == slot && tail_ == slot; }

  // REQUIRES: slot < links.size() and slot is on no list.
  void push_back(std::vector<SlotLink>& links, std::uint32_t slot) {
    links[slot] = SlotLink{tail_, kNoSlot};
    if (tail_ == kNoSlot) {
      head_ = slot;
    } else {
      links[tail_].next = slot;
    }
    tail_ = slot;
  }

  // REQUIRES: slot is on this list.
  void remove(std::vector<SlotLink>& links, std::uint32_t slot) {
    const SlotLink l = links[slot];
    assert(l.prev != kNoSlot || head_ == slot);
    if (l.prev == kNoSlot) {
      head_ = l.next;
    } else {
      links[l.prev].next = l.next;
    }
    if (l.next == kNoSlot) {
      tail_ = l.prev;
    } else {
      links[l.next].prev = l.prev;
    }
    links[slot] = SlotLink{};
  }

 private:
  std::uint32_t head_ = kNoSlot;
  std::uint32_t tail_ = kNoSlot;
};

// N lists over one link array, each with its length: S3-FIFO's queues, W-TinyLFU's segments.
// The policy keeps which list each slot is on.
template <std::size_t N>
class SlotQueues {
 public:
  std::uint64_t size(std::size_t q) const { return sizes_[q]; }
  std::uint32_t front(std::size_t q) const { return lists_[q].front(); }

  void push_back(std::vector<SlotLink>& links, std::uint32_t slot, std::size_t q) {
    lists_[q].push_back(links, slot);
    ++sizes_[q];
  }
  // REQUIRES: slot is on list q.
  void remove(std::vector<SlotLink>& links, std::uint32_t slot, std::size_t q) {
    lists_[q].remove(links, slot);
    --sizes_[q];
  }
  // Moves slot from list `from` to the back of list `to` (the same list: to its back).
  void move(std::vector<SlotLink>& links, std::uint32_t slot, std::size_t from, std::size_t to) {
    remove(links, slot, from);
    push_back(links, slot, to);
  }

 private:
  std::array<SlotList, N> lists_;
  std::array<std::uint64_t, N> sizes_{};
};

// The smallest power of two >= n and >= floor: sizes of hash-indexed tables.
inline std::size_t power_of_two_at_least(std::size_t n, std::size_t floor) {
  std::size_t p = floor;
  while (p < n) p *= 2;
  return p;
}

}  // namespace ztm::cache
