#include "core/utf8.h"

namespace ztm {
namespace {

// Length of the well-formed sequence at the start of `s` (1..4), or 0 when it is ill-formed;
// then `bad` is the length of its maximal subpart (at least 1), replaced by one U+FFFD.
std::size_t sequence(std::string_view s, std::size_t& bad) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  bad = 1;
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte (Table 3-7)
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // no overlong forms
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  for (std::size_t i = 1; i < n; ++i) {
    if (i >= s.size()) return 0;
    const unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
    if (b(i) < min || b(i) > max) return 0;
    bad = i + 1;
  }
  return n;
}

}  // namespace

std::size_t utf8_valid_prefix(std::string_view s) {
  std::size_t at = 0, bad = 0;
  while (at < s.size()) {
    const auto n = sequence(s.substr(at), bad);
    if (n == 0) break;
    at += n;
  }
  return at;
}

std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    const auto good = utf8_valid_prefix(s);
    out.append(s.substr(0, good));
    s.remove_prefix(good);
    if (s.empty()) break;
    std::size_t bad = 0;
    sequence(s, bad);
    out += "\xEF\xBF\xBD";
    s.remove_prefix(bad);
  }
  return out;
}

}  // namespace ztm
