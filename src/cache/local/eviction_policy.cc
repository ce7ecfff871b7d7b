#include "cache/local/eviction_policy.h"

namespace ztm {

std::optional<EvictionPolicyKind> parse_eviction_policy(std::string_view name) {
  if (name == "lru") return EvictionPolicyKind::lru;
  if (name == "lfu") return EvictionPolicyKind::lfu;
  if (name == "fifo") return EvictionPolicyKind::fifo;
  return std::nullopt;
}

std::string_view to_string(EvictionPolicyKind kind) {
  switch (kind) {
    case EvictionPolicyKind::lru:
      return "lru";
    case EvictionPolicyKind::lfu:
      return "lfu";
    case EvictionPolicyKind::fifo:
      return "fifo";
  }
  return "unknown";
}

std::unique_ptr<EvictionPolicy> make_eviction_policy(EvictionPolicyKind kind) {
  switch (kind) {
    case EvictionPolicyKind::lru:
      return make_lru_policy();
    case EvictionPolicyKind::lfu:
      return make_lfu_policy();
    case EvictionPolicyKind::fifo:
      return make_fifo_policy();
  }
  return make_lru_policy();
}

}  // namespace ztm
