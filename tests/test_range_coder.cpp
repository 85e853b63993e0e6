#include <algorithm>
#include <catch2/catch.hpp>
#include <climits>
#include <cmath>

#include "compress/range_coder.h"
#include "core/error.h"
#include "core/random.h"

using namespace lnx;

namespace {

// Laplacian-like integers, mostly zero, as trained latents are.
std::vector<int32_t> laplace_values(int64_t n, double scale, uint64_t seed) {
  Generator g(seed);
  std::vector<int32_t> v(n);
  for (auto& x : v) {
    const double u = g.next_double() - 0.5;
    x = static_cast<int32_t>(
        std::lround(-scale * std::copysign(std::log(1 - 2 * std::fabs(u)), u)));
  }
  return v;
}

double ideal_bits(const std::vector<int32_t>& v, const std::vector<FrequencyTable>& t) {
  double bits = 0;
  for (size_t i = 0; i < v.size(); ++i) bits += t[i % t.size()].cost_bits(v[i]);
  return bits;
}

}  // namespace

TEST_CASE("frequency tables keep their invariants", "[coder]") {
  const FrequencyTable t = FrequencyTable::from_pmf(-2, {0.1, 0.2, 0.4, 0.2, 0.0999999});
  CHECK(t.min_value() == -2);
  CHECK(t.max_value() == 2);
  CHECK(t.num_symbols() == 6);
  uint64_t sum = 0;
  for (uint32_t f : t.freq()) {
    CHECK(f >= 1);
    sum += f;
  }
  CHECK(sum == kFreqTotal);
  // A tiny probability still gets frequency 1, and the escape always exists.
  const FrequencyTable tiny = FrequencyTable::from_pmf(0, {1.0, 1e-12});
  CHECK(tiny.freq()[1] == 1);
  CHECK(tiny.freq().back() >= 1);
  CHECK_THROWS_WITH(FrequencyTable(0, {100, 200}), Catch::Contains("expected exactly 65536"));
  CHECK_THROWS_WITH(FrequencyTable(0, {65536, 0}), Catch::Contains("frequency 0"));
  CHECK_THROWS_WITH(FrequencyTable::from_pmf(0, {0.5, -0.1}), Catch::Contains("-0.1"));
}

TEST_CASE("rANS round-trips with per-channel tables and escapes", "[coder]") {
  const int channels = 9;
  std::vector<int32_t> values = laplace_values(9 * 5000, 0.7, 11);
  values[17] = 1000;  // outside any fitted table: escape + bypass
  values[18] = INT32_MIN;
  values[19] = INT32_MAX;
  std::vector<FrequencyTable> tables;
  for (int c = 0; c < channels; ++c) {
    std::vector<int32_t> ch;
    for (size_t i = c; i < values.size(); i += channels)
      if (std::abs(values[i]) < 50) ch.push_back(values[i]);
    tables.push_back(FrequencyTable::from_values(ch.data(), static_cast<int64_t>(ch.size())));
  }
  const std::vector<uint8_t> stream = rans_encode(values, tables);
  const std::vector<int32_t> back =
      rans_decode(stream.data(), stream.size(), static_cast<int64_t>(values.size()), tables);
  CHECK(back == values);
  const double ideal = ideal_bits(values, tables) / 8.0;
  INFO("coded " << stream.size() << " bytes, ideal " << ideal);
  CHECK(static_cast<double>(stream.size()) <= ideal * 1.005 + 8);
}

TEST_CASE("rANS handles a near-certain symbol and an empty stream", "[coder]") {
  const std::vector<FrequencyTable> t{FrequencyTable::from_pmf(0, {1.0})};
  const std::vector<int32_t> zeros(100000, 0);
  const std::vector<uint8_t> s = rans_encode(zeros, t);
  CHECK(s.size() < 16);
  CHECK(rans_decode(s.data(), s.size(), 100000, t) == zeros);
  const std::vector<uint8_t> e = rans_encode({}, t);
  CHECK(rans_decode(e.data(), e.size(), 0, t).empty());
}

TEST_CASE("rANS decoding of truncated or corrupted streams fails cleanly", "[coder][errors]") {
  std::vector<int32_t> values = laplace_values(20000, 3.0, 5);
  const std::vector<FrequencyTable> t{FrequencyTable::from_values(values.data(), 20000)};
  std::vector<uint8_t> s = rans_encode(values, t);
  CHECK_THROWS_WITH(rans_decode(s.data(), 3, 20000, t), Catch::Contains("shorter than"));
  CHECK_THROWS_WITH(rans_decode(s.data(), s.size() / 2, 20000, t), Catch::Contains("ends early"));
  // Flipped bytes either decode to other values or fail with an error; never crash.
  Generator g(9);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<uint8_t> bad = s;
    bad[g.next_u64() % bad.size()] ^= static_cast<uint8_t>(1 + g.next_u64() % 255);
    try {
      (void)rans_decode(bad.data(), bad.size(), 20000, t);
    } catch (const Error&) {
    }
  }
}

TEST_CASE("slice flags round-trip and price an empty slice at its flag", "[coder]") {
  // Rows of 9 (kernel slices): 60% all zero, the rest Laplace values.
  const int channels = 9;
  std::vector<int32_t> values = laplace_values(9 * 4000, 0.9, 21);
  Generator g(3);
  std::vector<int32_t> flags, nonzero;
  for (size_t r = 0; r < values.size(); r += channels) {
    if (g.next_u64() % 100 < 60) std::fill(values.begin() + r, values.begin() + r + channels, 0);
    const bool nz = std::any_of(values.begin() + r, values.begin() + r + channels,
                                [](int32_t v) { return v != 0; });
    flags.push_back(nz ? 1 : 0);
    if (nz) nonzero.insert(nonzero.end(), values.begin() + r, values.begin() + r + channels);
  }
  values[5 * channels + 2] = 100000;  // an escape inside a non-zero slice
  nonzero.clear();
  for (size_t r = 0; r < values.size(); r += channels)
    if (std::any_of(values.begin() + r, values.begin() + r + channels,
                    [](int32_t v) { return v != 0; }))
      nonzero.insert(nonzero.end(), values.begin() + r, values.begin() + r + channels);
  std::vector<FrequencyTable> tables;
  for (int c = 0; c < channels; ++c)
    tables.push_back(FrequencyTable::from_values(
        nonzero.data() + c, static_cast<int64_t>(nonzero.size()) / channels, channels));
  const FrequencyTable occupancy =
      FrequencyTable::from_values(flags.data(), static_cast<int64_t>(flags.size()));
  const std::vector<uint8_t> stream = rans_encode_slices(values, occupancy, tables);
  CHECK(rans_decode_slices(stream.data(), stream.size(), static_cast<int64_t>(values.size()),
                           occupancy, tables) == values);
  // Its length is the flags' code length plus the non-zero slices' values, to the coder's slack.
  const double ideal = (ideal_bits(flags, {occupancy}) + ideal_bits(nonzero, tables)) / 8.0;
  CHECK(rans_slices_ideal_bits(values, occupancy, tables) == Approx(8 * ideal));
  CHECK(rans_ideal_bits(values, tables) > 8 * ideal);  // the empty slices' zeros, one by one
  INFO("coded " << stream.size() << " bytes, ideal " << ideal);
  CHECK(static_cast<double>(stream.size()) <= ideal * 1.005 + 8);
  CHECK(static_cast<double>(stream.size()) >= ideal - 1);

  CHECK_THROWS_WITH(rans_encode_slices({1, 2, 3}, occupancy, tables),
                    Catch::Contains("3 values do not form rows of 9"));
  // A flag that decodes to 2: the stream of a plain code read as a slice code.
  const FrequencyTable wide = FrequencyTable::from_pmf(0, {0.2, 0.2, 0.6});
  const std::vector<int32_t> twos(9, 2);
  const std::vector<uint8_t> bad = rans_encode(twos, {wide});
  CHECK_THROWS_WITH(rans_decode_slices(bad.data(), bad.size(), 9, wide, tables),
                    Catch::Contains("flag of row 0 is 2, expected 0 or 1"));
}
