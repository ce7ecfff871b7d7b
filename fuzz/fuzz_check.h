#pragma once
// What the harnesses share. Each <name>_fuzzer.cc defines LLVMFuzzerTestOneInput; it is linked
// with libFuzzer in the clang build (ZTM_FUZZ=ON) and with replay_main.cc in the normal build,
// where the ctest fuzz_<name> (label unit) runs every seed and regression through it.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

// A property the code under test must keep, whatever the input. Aborts (a crash to libFuzzer, a
// failed test to the replay) with the condition, so a finding says what broke, not only where.
#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (false)

namespace ztm::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Splits off the text up to the first '\n' (the '\n' is dropped); all of `rest` when there is
// none. How harnesses with several fields take them from one input.
inline std::string_view next_line(std::string_view& rest) {
  const auto nl = rest.find('\n');
  const auto line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
  return line;
}

// True when `part` lies inside `whole` (views that the code under test says point into it).
inline bool points_into(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

}  // namespace ztm::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
