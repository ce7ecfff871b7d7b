#include "redis/reply.h"

#include <fmt/format.h>

#include <charconv>

namespace ztm::redis {

std::optional<std::int64_t> Reply::as_int() const {
  if (type == Type::integer) return integer;
  if (type != Type::string) return std::nullopt;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(str.data(), str.data() + str.size(), v);
  if (ec != std::errc{} || end != str.data() + str.size()) return std::nullopt;
  return v;
}

Error error_from_reply(const Reply& reply, std::string_view what) {
  const std::string_view s = reply.str;
  const std::string_view prefix = s.substr(0, s.find(' '));
  const bool transient = prefix == "READONLY" || prefix == "LOADING" || prefix == "MASTERDOWN" ||
                         prefix == "TRYAGAIN" || prefix == "BUSY";
  return Error{transient ? Errc::unavailable : Errc::internal,
               fmt::format("redis {}: {}", what, reply.is_error() ? s : describe(reply))};
}

std::string describe(const Reply& r) {
  switch (r.type) {
    case Reply::Type::nil:
      return "nil";
    case Reply::Type::integer:
      return std::to_string(r.integer);
    case Reply::Type::status:
      return "+" + r.str;
    case Reply::Type::error:
      return "-" + r.str;
    case Reply::Type::string:
      return fmt::format("\"{}\"", r.str);
    case Reply::Type::array: {
      std::string out = "[";
      for (std::size_t i = 0; i < r.elements.size(); ++i)
        out += (i ? ", " : "") + describe(r.elements[i]);
      return out + "]";
    }
  }
  return "?";
}

}  // namespace ztm::redis
