#pragma once
// Days as the business metrics count them: whole UTC days, numbered from 1970-01-01 (day 0), so
// that a day is an integer a database can store, compare and subtract, and the same in every
// process and database. A day comes from the injected clock (Clock::now()), never from a
// database's own now().
//
// Snowflake ids (core/ids.h) carry the clock's time of their creation, so the rows made on a day
// are the ids in [first_id_of(day), first_id_of(day + 1)): a range of a primary key.

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/ids.h"

namespace ztm {

using UtcDay = std::int64_t;

inline constexpr std::int64_t kMsPerDay = 86'400'000;

// The UTC day of a wall time (floor: times before 1970 give negative days).
inline UtcDay utc_day(std::chrono::system_clock::time_point t) {
  return std::chrono::floor<std::chrono::days>(t).time_since_epoch().count();
}

// The smallest id IdGenerator issues on `day` or later (0 for days before its epoch).
inline std::int64_t first_id_of(UtcDay day) {
  const std::int64_t ms = day * kMsPerDay - IdGenerator::kEpochMs;
  return std::max<std::int64_t>(0, ms) << (IdGenerator::kNodeBits + IdGenerator::kSequenceBits);
}

// 2025-06-01 for day 20240.
inline std::string iso_date(UtcDay day) {
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{day}}};
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
}

// "yyyy-mm-dd" (a real date, years 1970..9999) -> its day; nullopt otherwise.
inline std::optional<UtcDay> parse_iso_date(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int parts[3] = {0, 0, 0};
  const std::size_t starts[3] = {0, 5, 8}, lengths[3] = {4, 2, 2};
  for (int i = 0; i < 3; ++i)
    for (std::size_t k = starts[i]; k < starts[i] + lengths[i]; ++k) {
      if (text[k] < '0' || text[k] > '9') return std::nullopt;
      parts[i] = parts[i] * 10 + (text[k] - '0');
    }
  const std::chrono::year_month_day ymd{std::chrono::year{parts[0]},
                                        std::chrono::month{static_cast<unsigned>(parts[1])},
                                        std::chrono::day{static_cast<unsigned>(parts[2])}};
  if (!ymd.ok() || parts[0] < 1970) return std::nullopt;
  return std::chrono::sys_days{ymd}.time_since_epoch().count();
}

}  // namespace ztm
