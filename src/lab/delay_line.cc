#include "lab/delay_line.h"

namespace ztm::lab {

bool DelayLine::hold(std::uint32_t id, Clock::time_point now) {
  if (held_.size() >= max_held_) {
    ++dropped_;
    return false;
  }
  // A clock that stepped back must not reorder: a packet is never due before the one ahead.
  Clock::time_point due = now + delay_;
  if (!held_.empty() && due < held_.back().due) due = held_.back().due;
  held_.push_back({id, due});
  return true;
}

std::vector<std::uint32_t> DelayLine::release(Clock::time_point now) {
  std::vector<std::uint32_t> out;
  while (!held_.empty() && held_.front().due <= now) {
    out.push_back(held_.front().id);
    held_.pop_front();
  }
  released_ += out.size();
  return out;
}

std::optional<DelayLine::Clock::time_point> DelayLine::next_due() const {
  if (held_.empty()) return std::nullopt;
  return held_.front().due;
}

}  // namespace ztm::lab
