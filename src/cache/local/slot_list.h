#pragma once
// Intrusive doubly linked lists of slot indices, the building block of the eviction policies.
// The links live in one array owned by the policy and shared by all its lists (a slot is on at
// most one list at a time), so linking and unlinking never allocate.

#include <cassert>
#include <cstdint>
#include <limits>
#include <vector>

namespace ztm {

inline constexpr std::uint32_t kNoSlot = std::numeric_limits<std::uint32_t>::max();

struct SlotLink {
  std::uint32_t prev = kNoSlot;
  std::uint32_t next = kNoSlot;
};

// Grows links so that index `slot` exists (the only step that may allocate).
inline void ensure_slot(std::vector<SlotLink>& links, std::uint32_t slot) {
  if (slot >= links.size()) links.resize(std::size_t{slot} + 1);
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

}  // namespace ztm
