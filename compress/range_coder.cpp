#include "compress/range_coder.h"

#include <algorithm>

#include "core/error.h"

namespace lnx {
namespace {

constexpr uint32_t kRansLow = 1u << 23;  // lower bound of the normalised state
constexpr int kBypassBits = 4;
constexpr uint32_t kBypassFreq = kFreqTotal >> kBypassBits;

struct Symbol {
  uint32_t start, freq;
};

// The symbols one value turns into, in decoding order.
void value_symbols(int32_t v, const FrequencyTable& t, std::vector<Symbol>& out) {
  out.clear();
  if (v >= t.min_value() && v <= t.max_value()) {
    const int64_t s = v - t.min_value();
    out.push_back({t.cum()[s], t.freq()[s]});
    return;
  }
  const int64_t esc = t.escape_symbol();
  out.push_back({t.cum()[esc], t.freq()[esc]});
  const bool below = v < t.min_value();
  const uint64_t n = below ? static_cast<uint64_t>(static_cast<int64_t>(t.min_value()) - v - 1)
                           : static_cast<uint64_t>(static_cast<int64_t>(v) - t.max_value() - 1);
  uint32_t chunks = 1;
  while (chunks < 8 && (n >> (4 * chunks)) != 0) ++chunks;
  const uint32_t header = (below ? 8u : 0u) | (chunks - 1);
  out.push_back({header * kBypassFreq, kBypassFreq});
  for (uint32_t c = 0; c < chunks; ++c)
    out.push_back({static_cast<uint32_t>((n >> (4 * c)) & 15u) * kBypassFreq, kBypassFreq});
}

class Decoder {
 public:
  Decoder(const uint8_t* data, size_t size) : p_(data), end_(data + size) {
    LNX_CHECK(size >= 4, "range decoder: stream of ", size,
              " bytes is shorter than its 4-byte state");
    x_ = uint32_t(p_[0]) | uint32_t(p_[1]) << 8 | uint32_t(p_[2]) << 16 | uint32_t(p_[3]) << 24;
    p_ += 4;
  }
  uint32_t peek() const { return x_ & (kFreqTotal - 1); }
  void advance(uint32_t start, uint32_t freq) {
    x_ = freq * (x_ >> kFreqPrecision) + peek() - start;
    while (x_ < kRansLow) {
      LNX_CHECK(p_ < end_, "range decoder: stream ends early (truncated or corrupted)");
      x_ = (x_ << 8) | *p_++;
    }
  }
  uint32_t bypass() {
    const uint32_t v = peek() / kBypassFreq;
    advance(v * kBypassFreq, kBypassFreq);
    return v;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  uint32_t x_ = 0;
};

// cum value -> symbol, one lookup table per frequency table.
std::vector<uint16_t> build_lookup(const FrequencyTable& t) {
  std::vector<uint16_t> lut(kFreqTotal);
  for (int64_t s = 0; s < t.num_symbols(); ++s)
    std::fill(lut.begin() + t.cum()[s], lut.begin() + t.cum()[s + 1], static_cast<uint16_t>(s));
  return lut;
}

}  // namespace

std::vector<uint8_t> rans_encode(const std::vector<int32_t>& values,
                                 const std::vector<FrequencyTable>& tables) {
  LNX_CHECK(!tables.empty(), "rans_encode: no frequency tables given");
  std::vector<uint8_t> out;  // bytes in emission order; reversed at the end
  out.reserve(values.size() / 2 + 16);
  uint32_t x = kRansLow;
  std::vector<Symbol> syms;
  for (size_t i = values.size(); i-- > 0;) {
    value_symbols(values[i], tables[i % tables.size()], syms);
    for (auto it = syms.rbegin(); it != syms.rend(); ++it) {
      const uint32_t x_max = ((kRansLow >> kFreqPrecision) << 8) * it->freq;
      while (x >= x_max) {
        out.push_back(static_cast<uint8_t>(x & 0xff));
        x >>= 8;
      }
      x = ((x / it->freq) << kFreqPrecision) + (x % it->freq) + it->start;
    }
  }
  for (int b = 3; b >= 0; --b) out.push_back(static_cast<uint8_t>(x >> (8 * b)));
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<int32_t> rans_decode(const uint8_t* data, size_t size, int64_t count,
                                 const std::vector<FrequencyTable>& tables) {
  LNX_CHECK(!tables.empty(), "rans_decode: no frequency tables given");
  // A stream can hold far more values than bytes (a near-certain symbol costs ~1e-5 bits), so
  // the caller bounds `count` from what it expects (the layer's shape), not from `size`.
  LNX_CHECK(count >= 0, "rans_decode: negative value count ", count);
  std::vector<std::vector<uint16_t>> luts;
  luts.reserve(tables.size());
  for (const FrequencyTable& t : tables) luts.push_back(build_lookup(t));
  Decoder d(data, size);
  std::vector<int32_t> out(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const size_t k = static_cast<size_t>(i) % tables.size();
    const FrequencyTable& t = tables[k];
    const uint16_t s = luts[k][d.peek()];
    d.advance(t.cum()[s], t.freq()[s]);
    if (s != t.escape_symbol()) {
      out[i] = t.min_value() + s;
      continue;
    }
    const uint32_t header = d.bypass();
    const uint32_t chunks = (header & 7u) + 1;
    uint64_t n = 0;
    for (uint32_t c = 0; c < chunks; ++c) n |= static_cast<uint64_t>(d.bypass()) << (4 * c);
    const int64_t v = (header & 8u)
                          ? static_cast<int64_t>(t.min_value()) - 1 - static_cast<int64_t>(n)
                          : static_cast<int64_t>(t.max_value()) + 1 + static_cast<int64_t>(n);
    LNX_CHECK(v >= INT32_MIN && v <= INT32_MAX, "rans_decode: value ", i,
              " decodes outside int32 (corrupted stream)");
    out[i] = static_cast<int32_t>(v);
  }
  return out;
}

}  // namespace lnx
