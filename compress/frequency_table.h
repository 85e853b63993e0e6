// Integer frequency tables for the range coder. A table covers the integer values
// [min_value, min_value + size - 1] plus one escape symbol; every frequency is at least 1 and
// they sum to exactly 2^16, so any value can be coded and both sides see the same integers.
// Tables are stored in files as these integers and never recomputed from floats when decoding.
#pragma once

#include <cstdint>
#include <vector>

namespace lnx {

inline constexpr int kFreqPrecision = 16;
inline constexpr uint32_t kFreqTotal = 1u << kFreqPrecision;

class FrequencyTable {
 public:
  FrequencyTable() = default;
  // freq holds the frequencies of min_value, min_value+1, ..., then the escape symbol last.
  FrequencyTable(int32_t min_value, std::vector<uint32_t> freq);

  // Quantizes probabilities of the values min_value.. (pmf need not sum to 1: the remainder is
  // the escape's share). Every symbol gets at least frequency 1.
  static FrequencyTable from_pmf(int32_t min_value, const std::vector<double>& pmf);
  // Fits the histogram of the values actually present (the escape keeps frequency 1).
  static FrequencyTable from_values(const int32_t* values, int64_t n, int64_t stride = 1);

  int32_t min_value() const { return min_value_; }
  int32_t max_value() const { return min_value_ + static_cast<int32_t>(freq_.size()) - 2; }
  int64_t num_symbols() const { return static_cast<int64_t>(freq_.size()); }  // escape included
  int64_t escape_symbol() const { return num_symbols() - 1; }
  const std::vector<uint32_t>& freq() const { return freq_; }
  const std::vector<uint32_t>& cum() const { return cum_; }  // cum[s] = sum of freq[0..s)

  // Ideal code length of one value under this table, escape and bypass bits included.
  double cost_bits(int32_t value) const;
  // Throws lnx::Error when the invariants (>= 1 each, total 2^16, at least two symbols) fail.
  void validate(const char* where) const;

 private:
  int32_t min_value_ = 0;
  std::vector<uint32_t> freq_;
  std::vector<uint32_t> cum_;
};

// Bits that a bypass-coded out-of-range value costs after its escape symbol.
int bypass_bits(int32_t value, const FrequencyTable& t);

}  // namespace lnx
