#include "kpi/hyperloglog.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "core/mix64.h"

namespace ztm::kpi {
namespace {

constexpr int kQ = 64 - HyperLogLog::kPrecision;  // bits left for the rank

// Ertl's sigma and tau (section 4 of the paper), summed until the terms no longer change it.
double sigma(double x) {
  if (x == 1.0) return std::numeric_limits<double>::infinity();
  double y = 1.0, z = x, previous;
  do {
    x *= x;
    previous = z;
    z += x * y;
    y += y;
  } while (z != previous);
  return z;
}

double tau(double x) {
  if (x == 0.0 || x == 1.0) return 0.0;
  double y = 1.0, z = 1.0 - x, previous;
  do {
    x = std::sqrt(x);
    previous = z;
    y *= 0.5;
    z -= (1.0 - x) * (1.0 - x) * y;
  } while (z != previous);
  return z / 3.0;
}

}  // namespace

void HyperLogLog::add(std::uint64_t value) {
  const std::uint64_t h = mix64(value);  // ids are sequential: spread them
  const auto index = static_cast<std::size_t>(h & (kRegisters - 1));
  // The sentinel bit caps the rank at kQ + 1 when the other bits are all zero.
  const std::uint64_t rest = (h >> kPrecision) | (std::uint64_t{1} << kQ);
  const auto rank = static_cast<std::uint8_t>(std::countr_zero(rest) + 1);
  registers_[index] = std::max(registers_[index], rank);
}

void HyperLogLog::merge(const HyperLogLog& other) {
  for (int i = 0; i < kRegisters; ++i) registers_[i] = std::max(registers_[i], other.registers_[i]);
}

bool HyperLogLog::empty() const {
  return std::all_of(registers_.begin(), registers_.end(), [](std::uint8_t r) { return r == 0; });
}

double HyperLogLog::estimate() const {
  std::array<int, kQ + 2> histogram{};  // registers by value 0..kQ+1
  for (std::uint8_t r : registers_) ++histogram[r];
  const double m = kRegisters;
  double z = m * tau(1.0 - histogram[kQ + 1] / m);
  for (int k = kQ; k >= 1; --k) {
    z += histogram[k];
    z *= 0.5;
  }
  z += m * sigma(histogram[0] / m);
  constexpr double kAlphaInfinity = 0.5 / 0.69314718055994530942;  // 1 / (2 ln 2)
  return kAlphaInfinity * m * m / z;
}

}  // namespace ztm::kpi
