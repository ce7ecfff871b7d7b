// FIFO: one list in insertion order, oldest at the front. Hits leave the order alone.

#include "cache/local/eviction_policy.h"
#include "cache/local/slot_list.h"

namespace ztm {
namespace {

class FifoPolicy final : public EvictionPolicy {
 public:
  void on_insert(Slot slot) override {
    ensure_slot(links_, slot);
    order_.push_back(links_, slot);
  }
  void on_access(Slot) override {}
  void on_erase(Slot slot) override { order_.remove(links_, slot); }
  Slot victim() const override { return order_.front(); }

 private:
  std::vector<SlotLink> links_;
  SlotList order_;
};

}  // namespace

std::unique_ptr<EvictionPolicy> make_fifo_policy() {
  return std::make_unique<FifoPolicy>();
}

}  // namespace ztm
