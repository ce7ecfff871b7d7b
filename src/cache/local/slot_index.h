#pragma once
// The shard's key index: key hash -> slot, in one flat array (open addressing, linear probing,
// at most half full). A lookup reads one or two adjacent cells and then the entry it points to;
// a node-based hash map reads a bucket, a node and the node's key first, each a cache miss when
// the shard is large, which made the index most of the cost of a hit.
//
// The index stores 32 bits of each hash (the tag, which also picks the home cell), not keys:
// find() asks the caller whether a slot holds the key (the entry table has the key text), so
// equal tags of different keys are told apart there. A cell is 8 bytes, 8 to a cache line.
// Erasing shifts later cells of the same run back (no tombstones), so probes stay short under
// constant churn. Only insert() allocates (growth).

#include <cstdint>
#include <utility>
#include <vector>

#include "cache/local/slot_list.h"

namespace ztm::cache {

class SlotIndex {
 public:
  std::size_t size() const { return size_; }

  // The slot holding the key with this hash, for which is_key(slot) is true; kNoSlot if none.
  template <class IsKey>
  std::uint32_t find(std::uint64_t hash, IsKey&& is_key) const {
    if (cells_.empty()) return kNoSlot;
    const std::uint32_t t = tag(hash);
    for (std::size_t i = home(t);; i = (i + 1) & mask_) {
      const Cell& c = cells_[i];
      if (c.slot == kNoSlot) return kNoSlot;
      if (c.tag == t && is_key(c.slot)) return c.slot;
    }
  }

  // REQUIRES: slot is not in the index.
  void insert(std::uint64_t hash, std::uint32_t slot) {
    if (2 * (size_ + 1) > cells_.size()) grow();
    place(Cell{tag(hash), slot});
    ++size_;
  }

  // Removes the cell of `slot`, found by the hash it was inserted with. REQUIRES: it is there.
  void erase(std::uint64_t hash, std::uint32_t slot) {
    std::size_t i = home(tag(hash));
    while (cells_[i].slot != slot) i = (i + 1) & mask_;
    // Backward shift: a later cell of the run moves into the hole unless its home lies
    // cyclically in (hole, cell], where it would no longer be reachable from its home.
    for (std::size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      if (cells_[j].slot == kNoSlot) break;
      const std::size_t h = home(cells_[j].tag);
      const bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
      if (stays) continue;
      cells_[i] = cells_[j];
      i = j;
    }
    cells_[i] = Cell{};
    --size_;
  }

 private:
  struct Cell {
    std::uint32_t tag = 0;
    std::uint32_t slot = kNoSlot;  // kNoSlot: empty
  };

  static std::uint32_t tag(std::uint64_t hash) {
    return static_cast<std::uint32_t>(hash ^ (hash >> 32));
  }
  // Tables hold at most 2^31 cells, so the tag's bits cover every home.
  std::size_t home(std::uint32_t t) const { return t & mask_; }
  void place(Cell cell) {
    std::size_t i = home(cell.tag);
    while (cells_[i].slot != kNoSlot) i = (i + 1) & mask_;
    cells_[i] = cell;
  }
  void grow() {
    std::vector<Cell> old =
        std::exchange(cells_, std::vector<Cell>(cells_.empty() ? 16 : 2 * cells_.size()));
    mask_ = cells_.size() - 1;
    for (const Cell& c : old)
      if (c.slot != kNoSlot) place(c);
  }

  std::vector<Cell> cells_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace ztm::cache
