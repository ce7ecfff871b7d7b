// LRU and FIFO: one list of slots, the victim at the front. They differ only on a hit: LRU moves
// the slot to the back (most recent), FIFO leaves the insertion order alone.

#include "cache/local/eviction_policy.h"
#include "cache/local/slot_list.h"

namespace ztm::cache {
namespace {

class ListPolicy final : public EvictionPolicy {
 public:
  explicit ListPolicy(bool move_on_hit) : move_on_hit_(move_on_hit) {}

  void on_insert(Slot slot, std::uint64_t /*key_hash*/) override {
    ensure_slot(links_, slot);
    order_.push_back(links_, slot);
  }
  void on_access(Slot slot) override {
    if (!move_on_hit_) return;
    order_.remove(links_, slot);
    order_.push_back(links_, slot);
  }
  bool concurrent_hits() const override { return !move_on_hit_; }  // FIFO's hit writes nothing
  void on_erase(Slot slot) override { order_.remove(links_, slot); }
  Slot victim() override { return order_.front(); }

 private:
  const bool move_on_hit_;
  std::vector<SlotLink> links_;
  SlotList order_;
};

}  // namespace

std::unique_ptr<EvictionPolicy> make_lru_policy() {
  return std::make_unique<ListPolicy>(true);
}
std::unique_ptr<EvictionPolicy> make_fifo_policy() {
  return std::make_unique<ListPolicy>(false);
}

}  // namespace ztm::cache
