#include "core/trace.h"

#include <cstdint>
#include <random>

namespace ztm {

namespace {

constexpr char kDigits[] = "0123456789abcdef";

// SplitMix64 (Steele, Lea, Flood 2014), one per thread, seeded from the OS: ids must not collide
// across processes and need not be unguessable (trace.h). Every request draws one to decide its
// sampling (and more for a trace, when one is asked for); this is an add and three
// multiply-xorshifts a word, where mt19937_64 refilled 2.5 KB of state every 312 words (issue 12).
std::uint64_t random_word() {
  thread_local std::uint64_t state =
      (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

template <std::size_t N>
void fill_random(std::array<char, N>& out) {
  for (std::size_t i = 0; i < N; i += 16) {
    auto word = random_word();
    for (std::size_t j = i; j < N && j < i + 16; ++j, word >>= 4) out[j] = kDigits[word & 15];
  }
}

bool is_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool all_zero(std::string_view s) {
  return s.find_first_not_of('0') == std::string_view::npos;
}

}  // namespace

bool sample_percent(int percent) {
  return percent > 0 && static_cast<int>(random_word() % 100) < percent;
}

std::string Trace::traceparent() const {
  std::string out = "00-";
  out.append(trace_id()).append("-").append(span_id()).append(sampled_ ? "-01" : "-00");
  return out;
}

std::optional<Trace> Trace::child_of(std::string_view header) {
  // version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55 characters.
  if (header.size() < 55 || header[2] != '-' || header[35] != '-' || header[52] != '-')
    return std::nullopt;
  const auto version = header.substr(0, 2), trace_id = header.substr(3, 32),
             parent = header.substr(36, 16), flags = header.substr(53, 2);
  if (!is_hex(version) || version == "ff" || !is_hex(trace_id) || !is_hex(parent) ||
      !is_hex(flags) || all_zero(trace_id) || all_zero(parent))
    return std::nullopt;
  if (header.size() > 55 && (version == "00" || header[55] != '-')) return std::nullopt;
  Trace t;
  trace_id.copy(t.trace_id_.data(), t.trace_id_.size());
  parent.copy(t.parent_id_.data(), t.parent_id_.size());
  t.has_parent_ = true;
  fill_random(t.span_id_);
  const int low_digit = flags[1] <= '9' ? flags[1] - '0' : flags[1] - 'a' + 10;
  t.sampled_ = (low_digit & 1) != 0;  // bit 0 of the flags: sampled
  return t;
}

Trace Trace::start(bool sampled) {
  Trace t;
  do fill_random(t.trace_id_);
  while (all_zero(t.trace_id()));
  fill_random(t.span_id_);
  t.sampled_ = sampled;
  return t;
}

}  // namespace ztm
