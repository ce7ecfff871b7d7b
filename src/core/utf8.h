#pragma once
// Text from clients reaches JSON bodies and logs (a path echoed in a 404, a header in a log
// line); JSON must be valid UTF-8 and Boost.JSON copies bytes as they are. valid_utf8 replaces
// each ill-formed sequence with U+FFFD (the "maximal subpart" rule of Unicode §3.9), so a
// hostile byte can neither break a parser downstream nor smuggle itself into a log.

#include <string>
#include <string_view>

namespace ztm {

// Length of the well-formed UTF-8 prefix of `s` (s.size() when all of it is well-formed).
std::size_t utf8_valid_prefix(std::string_view s);

// `s` with every ill-formed sequence replaced by U+FFFD.
std::string valid_utf8(std::string_view s);

}  // namespace ztm
