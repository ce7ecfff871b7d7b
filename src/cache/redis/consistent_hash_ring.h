#pragma once
// A consistent-hash ring with virtual nodes: which cache node owns a key.
//
// Each node is placed at `virtual_nodes` points, at stable_hash64("<name>#<i>"); a key belongs to
// the first point clockwise from stable_hash64(key). Adding a node to N takes about 1/(N+1) of
// the keys (only from the nodes next to its points); removing one moves only its own keys. Many
// points per node smooth the shares: with 160, each of 3 nodes owns 33% +- about 3%.
//
// Immutable after construction: membership changes build a new ring. Thread-safe to read.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ztm::cache {

class ConsistentHashRing {
 public:
  static constexpr int kDefaultVirtualNodes = 160;

  // `nodes`: names (addresses), distinct; their index is the node id returned below.
  // Throws std::invalid_argument on duplicates or virtual_nodes < 1.
  explicit ConsistentHashRing(std::vector<std::string> nodes,
                              int virtual_nodes = kDefaultVirtualNodes);

  // The owner of key. REQUIRES: at least one node.
  int owner(std::string_view key) const;
  // Up to n distinct nodes met walking clockwise from key: the owner first, then its successors
  // (a dead owner's stand-in, a hot key's replicas).
  std::vector<int> successors(std::string_view key, int n) const;

  int size() const { return static_cast<int>(nodes_.size()); }
  const std::string& name(int node) const { return nodes_[static_cast<std::size_t>(node)]; }
  const std::vector<std::string>& nodes() const { return nodes_; }

 private:
  struct Point {
    std::uint64_t hash;
    int node;
  };
  std::size_t first_point(std::string_view key) const;

  std::vector<std::string> nodes_;
  std::vector<Point> points_;  // sorted by hash
};

}  // namespace ztm::cache
