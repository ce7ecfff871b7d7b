#include "cache/local/eviction_policy.h"

namespace ztm::cache {

std::optional<EvictionPolicyKind> parse_eviction_policy(std::string_view name) {
  if (name == "lru") return EvictionPolicyKind::lru;
  if (name == "lfu") return EvictionPolicyKind::lfu;
  if (name == "fifo") return EvictionPolicyKind::fifo;
  if (name == "s3fifo") return EvictionPolicyKind::s3fifo;
  if (name == "tinylfu") return EvictionPolicyKind::tinylfu;
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
    case EvictionPolicyKind::s3fifo:
      return "s3fifo";
    case EvictionPolicyKind::tinylfu:
      return "tinylfu";
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
    case EvictionPolicyKind::s3fifo:
      return make_s3fifo_policy();
    case EvictionPolicyKind::tinylfu:
      return make_tinylfu_policy();
  }
  return make_lru_policy();
}

}  // namespace ztm::cache
