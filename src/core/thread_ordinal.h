#pragma once

#include <atomic>
#include <cstdint>

namespace ztm {

// This thread's number: 0 for the first thread that asks, then 1, 2, ... Gives each thread slots
// of its own (metric shards, request-id prefixes) without a shared write per use (issue 12).
inline std::uint32_t thread_ordinal() {
  static std::atomic<std::uint32_t> threads{0};
  thread_local const std::uint32_t ordinal = threads.fetch_add(1, std::memory_order_relaxed);
  return ordinal;
}

}  // namespace ztm
