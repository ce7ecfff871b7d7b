#pragma once
// HyperLogLog (Flajolet et al. 2007) with 2^14 registers, the precision of Redis's PFADD: it
// counts distinct 64-bit values in 16 KiB with a standard error of 1.04 / sqrt(16384) = 0.81 %.
// The estimate is Ertl's improved estimator ("New cardinality estimation algorithms for
// HyperLogLog sketches", 2017; what Redis uses since 5.0): no bias correction table, no switch
// to linear counting, unbiased from 0 to far beyond 2^32.
//
// A value is hashed (a 64-bit mixer: ids are sequential, the hash must not be); the low 14 bits
// pick a register, which keeps the largest "trailing zeros + 1" seen among the other 50 bits.
// Not thread-safe: callers lock.

#include <array>
#include <cstdint>

namespace ztm::kpi {

class HyperLogLog {
 public:
  static constexpr int kPrecision = 14;
  static constexpr int kRegisters = 1 << kPrecision;  // 16384
  // The relative standard error of estimate(): 1.04 / sqrt(kRegisters).
  static constexpr double kStandardError = 0.008125;

  void add(std::uint64_t value);
  // Registers become the max of both: the sketch of the union.
  void merge(const HyperLogLog& other);
  double estimate() const;
  bool empty() const;

 private:
  std::array<std::uint8_t, kRegisters> registers_{};
};

}  // namespace ztm::kpi
