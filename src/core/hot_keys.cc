#include "core/hot_keys.h"

#include <algorithm>
#include <stdexcept>

#include "core/stable_hash.h"

namespace ztm {

HotKeyDetector::HotKeyDetector(HotKeyOptions options)
    : options_(options), counts_(kDepth * kWidth, 0) {
  if (options_.sample_every < 1 || !(options_.hot_share > 0 && options_.hot_share <= 1) ||
      options_.window < 1 || options_.capacity < 1 || options_.capacity > 1024)
    throw std::invalid_argument("hot keys: invalid options");
}

bool HotKeyDetector::record(std::string_view key) {
  // Sampled by a hash of the call's number, not every n-th call: a periodic request pattern
  // (a client alternating two keys) must not alias with the sampling period. The hash's low 32
  // bits scaled to [0, sample_every) (a multiply and a shift, not a division: this runs on every
  // call) are 0 for 1 call in sample_every.
  const std::uint64_t low = mix64(calls_.fetch_add(1, std::memory_order_relaxed)) & 0xffffffffULL;
  if ((low * static_cast<std::uint64_t>(options_.sample_every)) >> 32 != 0) return false;
  std::lock_guard lock(mu_);
  const std::uint32_t estimate = add(key);
  ++total_;
  auto it = std::find_if(top_.begin(), top_.end(), [key](const HotKey& k) { return k.key == key; });
  bool is_hot_now = false;
  if (it != top_.end()) {
    it->estimate = estimate;
    is_hot_now = hot(*it);
  } else if (static_cast<int>(top_.size()) < options_.capacity) {
    top_.push_back({std::string(key), estimate, 0});
  } else {
    auto coldest = std::min_element(top_.begin(), top_.end(), [](const HotKey& a, const HotKey& b) {
      return a.estimate < b.estimate;
    });
    if (coldest->estimate < estimate) *coldest = HotKey{std::string(key), estimate, 0};
  }
  if (++since_aging_ >= options_.window) age();
  return is_hot_now;
}

std::uint32_t HotKeyDetector::add(std::string_view key) {
  std::uint32_t estimate = UINT32_MAX;
  for (int row = 0; row < kDepth; ++row) {
    const std::size_t col = stable_hash64(key, static_cast<std::uint64_t>(row) + 1) % kWidth;
    auto& c = counts_[static_cast<std::size_t>(row) * kWidth + col];
    if (c < UINT32_MAX) ++c;
    estimate = std::min(estimate, c);
  }
  return estimate;
}

void HotKeyDetector::age() {
  for (auto& c : counts_) c >>= 1;
  for (auto& k : top_) k.estimate >>= 1;
  total_ >>= 1;
  since_aging_ = 0;
  std::erase_if(top_, [](const HotKey& k) { return k.estimate == 0; });
}

bool HotKeyDetector::hot(const HotKey& k) const {
  return k.estimate >= options_.min_count &&
         static_cast<double>(k.estimate) >= options_.hot_share * static_cast<double>(total_);
}

bool HotKeyDetector::is_hot(std::string_view key) const {
  std::lock_guard lock(mu_);
  for (const auto& k : top_)
    if (k.key == key) return hot(k);
  return false;
}

double HotKeyDetector::hot_share(std::string_view key) const {
  std::lock_guard lock(mu_);
  for (const auto& k : top_)
    if (k.key == key && hot(k) && total_ > 0)
      return static_cast<double>(k.estimate) / static_cast<double>(total_);
  return 0;
}

std::vector<HotKey> HotKeyDetector::hot_keys() const {
  std::vector<HotKey> out;
  {
    std::lock_guard lock(mu_);
    for (const auto& k : top_)
      if (hot(k))
        out.push_back({k.key, k.estimate,
                       total_ ? static_cast<double>(k.estimate) / static_cast<double>(total_) : 0});
  }
  std::sort(out.begin(), out.end(),
            [](const HotKey& a, const HotKey& b) { return a.estimate > b.estimate; });
  return out;
}

}  // namespace ztm
