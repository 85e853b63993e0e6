#include "compress/frequency_table.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace lnx {

FrequencyTable::FrequencyTable(int32_t min_value, std::vector<uint32_t> freq)
    : min_value_(min_value), freq_(std::move(freq)) {
  cum_.assign(freq_.size() + 1, 0);
  for (size_t s = 0; s < freq_.size(); ++s) cum_[s + 1] = cum_[s] + freq_[s];
  validate("FrequencyTable");
}

void FrequencyTable::validate(const char* where) const {
  LNX_CHECK(freq_.size() >= 2 && freq_.size() <= kFreqTotal, where, ": a table has ", freq_.size(),
            " symbols, expected 2 to ", kFreqTotal, " (values plus the escape)");
  uint64_t total = 0;
  for (size_t s = 0; s < freq_.size(); ++s) {
    LNX_CHECK(freq_[s] >= 1, where, ": symbol ", s, " has frequency 0; every symbol needs >= 1");
    total += freq_[s];
  }
  LNX_CHECK(total == kFreqTotal, where, ": frequencies sum to ", total, ", expected exactly ",
            kFreqTotal);
  const int64_t max_value =
      static_cast<int64_t>(min_value_) + static_cast<int64_t>(freq_.size()) - 2;
  LNX_CHECK(max_value <= INT32_MAX, where, ": value range [", min_value_, ", ", max_value,
            "] overflows int32");
}

FrequencyTable FrequencyTable::from_pmf(int32_t min_value, const std::vector<double>& pmf) {
  LNX_CHECK(!pmf.empty() && pmf.size() < kFreqTotal, "FrequencyTable::from_pmf: got ", pmf.size(),
            " probabilities, expected 1 to ", kFreqTotal - 1);
  double mass = 0;
  for (double p : pmf) {
    LNX_CHECK(std::isfinite(p) && p >= 0, "FrequencyTable::from_pmf: probability ", p,
              " is not a finite non-negative number");
    mass += p;
  }
  const double escape = std::max(0.0, 1.0 - mass);
  const double norm = std::max(mass + escape, 1e-300);
  std::vector<uint32_t> freq(pmf.size() + 1);
  int64_t sum = 0;
  for (size_t s = 0; s <= pmf.size(); ++s) {
    const double p = (s < pmf.size() ? pmf[s] : escape) / norm;
    freq[s] = static_cast<uint32_t>(std::max<double>(1.0, std::round(p * kFreqTotal)));
    sum += freq[s];
  }
  // Move the rounding error onto the largest frequencies, never below 1.
  while (sum != kFreqTotal) {
    const auto it = std::max_element(freq.begin(), freq.end());
    if (sum > kFreqTotal) {
      const int64_t take = std::min<int64_t>(sum - kFreqTotal, *it - 1);
      LNX_CHECK(take > 0, "FrequencyTable::from_pmf: cannot fit ", freq.size(),
                " symbols into 2^16");
      *it -= static_cast<uint32_t>(take);
      sum -= take;
    } else {
      *it += static_cast<uint32_t>(kFreqTotal - sum);
      sum = kFreqTotal;
    }
  }
  return FrequencyTable(min_value, std::move(freq));
}

FrequencyTable FrequencyTable::from_values(const int32_t* values, int64_t n, int64_t stride) {
  LNX_CHECK(n > 0, "FrequencyTable::from_values: no values to fit");
  int32_t lo = values[0], hi = values[0];
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, values[i * stride]);
    hi = std::max(hi, values[i * stride]);
  }
  // Very wide ranges would need more symbols than 2^16 allows: keep the central ones and
  // let the rest escape.
  const int64_t max_span = kFreqTotal / 4;
  if (static_cast<int64_t>(hi) - lo + 1 > max_span) {
    std::vector<int32_t> sorted(n);
    for (int64_t i = 0; i < n; ++i) sorted[i] = values[i * stride];
    std::sort(sorted.begin(), sorted.end());
    const int32_t median = sorted[n / 2];
    lo = static_cast<int32_t>(std::max<int64_t>(lo, median - max_span / 2));
    hi = static_cast<int32_t>(std::min<int64_t>(hi, lo + max_span - 1));
  }
  std::vector<double> pmf(static_cast<size_t>(hi - lo + 1), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t v = values[i * stride];
    if (v >= lo && v <= hi) pmf[v - lo] += 1.0 / static_cast<double>(n);
  }
  return from_pmf(lo, pmf);
}

int bypass_bits(int32_t value, const FrequencyTable& t) {
  const int64_t n = value > t.max_value() ? static_cast<int64_t>(value) - t.max_value() - 1
                                          : static_cast<int64_t>(t.min_value()) - value - 1;
  int chunks = 1;
  while (chunks < 8 && (n >> (4 * chunks)) != 0) ++chunks;
  return 4 + 4 * chunks;  // header (sign, chunk count) + chunks
}

double FrequencyTable::cost_bits(int32_t value) const {
  if (value >= min_value_ && value <= max_value())
    return kFreqPrecision - std::log2(static_cast<double>(freq_[value - min_value_]));
  return kFreqPrecision - std::log2(static_cast<double>(freq_.back())) + bypass_bits(value, *this);
}

}  // namespace lnx
