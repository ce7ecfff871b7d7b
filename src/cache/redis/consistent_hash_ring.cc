#include "cache/redis/consistent_hash_ring.h"

#include <algorithm>
#include <stdexcept>

#include "cache/stable_hash.h"

namespace ztm::cache {

ConsistentHashRing::ConsistentHashRing(std::vector<std::string> nodes, int virtual_nodes)
    : nodes_(std::move(nodes)) {
  if (virtual_nodes < 1) throw std::invalid_argument("ring: virtual_nodes must be >= 1");
  auto sorted = nodes_;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
    throw std::invalid_argument("ring: duplicate node");
  points_.reserve(nodes_.size() * static_cast<std::size_t>(virtual_nodes));
  for (std::size_t n = 0; n < nodes_.size(); ++n)
    for (int i = 0; i < virtual_nodes; ++i)
      points_.push_back({stable_hash64(nodes_[n] + '#' + std::to_string(i)), static_cast<int>(n)});
  // Ties (vanishingly rare) are broken by node name so every process builds the same ring.
  std::sort(points_.begin(), points_.end(), [this](const Point& a, const Point& b) {
    return a.hash != b.hash ? a.hash < b.hash
                            : nodes_[static_cast<std::size_t>(a.node)] <
                                  nodes_[static_cast<std::size_t>(b.node)];
  });
}

std::size_t ConsistentHashRing::first_point(std::string_view key) const {
  const std::uint64_t h = stable_hash64(key);
  auto it = std::lower_bound(points_.begin(), points_.end(), h,
                             [](const Point& p, std::uint64_t v) { return p.hash < v; });
  return it == points_.end() ? 0 : static_cast<std::size_t>(it - points_.begin());
}

int ConsistentHashRing::owner(std::string_view key) const {
  return points_[first_point(key)].node;
}

std::vector<int> ConsistentHashRing::successors(std::string_view key, int n) const {
  std::vector<int> out;
  const int want = std::min(n, size());
  if (want <= 0) return out;
  std::size_t i = first_point(key);
  // Bounded: every point is visited at most once.
  for (std::size_t step = 0; step < points_.size() && static_cast<int>(out.size()) < want; ++step) {
    const int node = points_[i].node;
    if (std::find(out.begin(), out.end(), node) == out.end()) out.push_back(node);
    i = i + 1 == points_.size() ? 0 : i + 1;
  }
  return out;
}

}  // namespace ztm::cache
