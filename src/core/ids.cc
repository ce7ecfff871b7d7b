#include "core/ids.h"

#include <stdexcept>

namespace ztm {

IdGenerator::IdGenerator(int node, const Clock& clock) : node_(node), clock_(&clock) {
  if (node < 0 || node > kMaxNode) throw std::invalid_argument("node id out of range");
}

std::int64_t IdGenerator::next() {
  const std::int64_t now = (unix_ms(clock_->now()) - kEpochMs) << kSequenceBits;
  std::int64_t last = last_.load(std::memory_order_relaxed);
  std::int64_t candidate;
  do {
    // Either the first id of a new millisecond, or the next sequence number (which rolls over
    // into the next millisecond when the 6 sequence bits are exhausted).
    candidate = now > last ? now : last + 1;
  } while (!last_.compare_exchange_weak(last, candidate, std::memory_order_relaxed));
  const std::int64_t ms = candidate >> kSequenceBits;
  const std::int64_t seq = candidate & ((1 << kSequenceBits) - 1);
  return (ms << (kNodeBits + kSequenceBits)) | (std::int64_t{node_} << kSequenceBits) | seq;
}

IdGenerator::Parts IdGenerator::decode(std::int64_t id) {
  return Parts{
      .unix_ms = (id >> (kNodeBits + kSequenceBits)) + kEpochMs,
      .node = static_cast<int>((id >> kSequenceBits) & kMaxNode),
      .sequence = static_cast<int>(id & ((1 << kSequenceBits) - 1)),
  };
}

}  // namespace ztm
