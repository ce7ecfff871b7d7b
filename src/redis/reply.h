#pragma once
// A Redis reply, owned (copied out of hiredis, which frees its redisReply after the callback).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace ztm::redis {

struct Reply {
  enum class Type { nil, integer, status, error, string, array };
  Type type = Type::nil;
  std::int64_t integer = 0;     // Type::integer
  std::string str;              // Type::status, error, string
  std::vector<Reply> elements;  // Type::array

  bool is_nil() const { return type == Type::nil; }
  bool is_error() const { return type == Type::error; }
  bool is_array() const { return type == Type::array; }
  // An integer reply, or a string that is a decimal integer; else nullopt.
  std::optional<std::int64_t> as_int() const;
  bool operator==(const Reply&) const = default;
};

// The error a `-ERR ...` reply stands for: -READONLY (a demoted master), -LOADING, -MASTERDOWN,
// -TRYAGAIN and -BUSY are transient -> unavailable; anything else -> internal.
Error error_from_reply(const Reply& reply, std::string_view what);

// A reply for logs and test messages, e.g. `["a", 1, nil]`.
std::string describe(const Reply& reply);

}  // namespace ztm::redis
