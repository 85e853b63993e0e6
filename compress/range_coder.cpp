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

// rANS encodes backwards: values[i] with table_of(i), last value first.
template <typename TableOf>
std::vector<uint8_t> encode_sequence(const std::vector<int32_t>& values, TableOf table_of) {
  std::vector<uint8_t> out;  // bytes in emission order; reversed at the end
  out.reserve(values.size() / 2 + 16);
  uint32_t x = kRansLow;
  std::vector<Symbol> syms;
  for (size_t i = values.size(); i-- > 0;) {
    value_symbols(values[i], table_of(i), syms);
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

// Decodes values one at a time, each with the table the caller names.
class ValueDecoder {
 public:
  ValueDecoder(const uint8_t* data, size_t size, const std::vector<const FrequencyTable*>& tables)
      : d_(data, size), tables_(tables) {
    luts_.reserve(tables.size());
    for (const FrequencyTable* t : tables) luts_.push_back(build_lookup(*t));
  }
  // Value number i of the stream (for the error message) with tables[k].
  int32_t next(size_t k, int64_t i) {
    const FrequencyTable& t = *tables_[k];
    const uint16_t s = luts_[k][d_.peek()];
    d_.advance(t.cum()[s], t.freq()[s]);
    if (s != t.escape_symbol()) return t.min_value() + s;
    const uint32_t header = d_.bypass();
    const uint32_t chunks = (header & 7u) + 1;
    uint64_t n = 0;
    for (uint32_t c = 0; c < chunks; ++c) n |= static_cast<uint64_t>(d_.bypass()) << (4 * c);
    const int64_t v = (header & 8u)
                          ? static_cast<int64_t>(t.min_value()) - 1 - static_cast<int64_t>(n)
                          : static_cast<int64_t>(t.max_value()) + 1 + static_cast<int64_t>(n);
    LNX_CHECK(v >= INT32_MIN && v <= INT32_MAX, "rans_decode: value ", i,
              " decodes outside int32 (corrupted stream)");
    return static_cast<int32_t>(v);
  }

 private:
  Decoder d_;
  std::vector<const FrequencyTable*> tables_;
  std::vector<std::vector<uint16_t>> luts_;
};

std::vector<const FrequencyTable*> pointers(const std::vector<FrequencyTable>& tables) {
  std::vector<const FrequencyTable*> p;
  for (const FrequencyTable& t : tables) p.push_back(&t);
  return p;
}

}  // namespace

std::vector<uint8_t> rans_encode(const std::vector<int32_t>& values,
                                 const std::vector<FrequencyTable>& tables) {
  LNX_CHECK(!tables.empty(), "rans_encode: no frequency tables given");
  return encode_sequence(
      values, [&](size_t i) -> const FrequencyTable& { return tables[i % tables.size()]; });
}

bool slice_nonzero(const int32_t* row, size_t n) {
  return std::any_of(row, row + n, [](int32_t v) { return v != 0; });
}

double rans_ideal_bits(const std::vector<int32_t>& values,
                       const std::vector<FrequencyTable>& tables) {
  LNX_CHECK(!tables.empty(), "rans_ideal_bits: no frequency tables given");
  double bits = 0;
  for (size_t i = 0; i < values.size(); ++i) bits += tables[i % tables.size()].cost_bits(values[i]);
  return bits;
}

double rans_slices_ideal_bits(const std::vector<int32_t>& values, const FrequencyTable& occupancy,
                              const std::vector<FrequencyTable>& tables) {
  const size_t c = tables.size();
  LNX_CHECK(c > 0 && values.size() % c == 0, "rans_slices_ideal_bits: ", values.size(),
            " values do not form rows of ", c, " (one per table)");
  double bits = 0;
  for (size_t r = 0; r < values.size(); r += c) {
    const bool nonzero = slice_nonzero(values.data() + r, c);
    bits += occupancy.cost_bits(nonzero ? 1 : 0);
    if (nonzero)
      for (size_t k = 0; k < c; ++k) bits += tables[k].cost_bits(values[r + k]);
  }
  return bits;
}

std::vector<int32_t> rans_decode(const uint8_t* data, size_t size, int64_t count,
                                 const std::vector<FrequencyTable>& tables) {
  LNX_CHECK(!tables.empty(), "rans_decode: no frequency tables given");
  // A stream can hold far more values than bytes (a near-certain symbol costs ~1e-5 bits), so
  // the caller bounds `count` from what it expects (the layer's shape), not from `size`.
  LNX_CHECK(count >= 0, "rans_decode: negative value count ", count);
  ValueDecoder d(data, size, pointers(tables));
  std::vector<int32_t> out(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) out[i] = d.next(static_cast<size_t>(i) % tables.size(), i);
  return out;
}

std::vector<uint8_t> rans_encode_slices(const std::vector<int32_t>& values,
                                        const FrequencyTable& occupancy,
                                        const std::vector<FrequencyTable>& tables) {
  const size_t c = tables.size();
  LNX_CHECK(c > 0 && values.size() % c == 0, "rans_encode_slices: ", values.size(),
            " values do not form rows of ", c, " (one per table)");
  std::vector<int32_t> seq;
  std::vector<const FrequencyTable*> table_of;
  for (size_t r = 0; r < values.size(); r += c) {
    const bool nonzero = slice_nonzero(values.data() + r, c);
    seq.push_back(nonzero ? 1 : 0);
    table_of.push_back(&occupancy);
    if (!nonzero) continue;
    for (size_t k = 0; k < c; ++k) {
      seq.push_back(values[r + k]);
      table_of.push_back(&tables[k]);
    }
  }
  return encode_sequence(seq, [&](size_t i) -> const FrequencyTable& { return *table_of[i]; });
}

std::vector<int32_t> rans_decode_slices(const uint8_t* data, size_t size, int64_t count,
                                        const FrequencyTable& occupancy,
                                        const std::vector<FrequencyTable>& tables) {
  const auto c = static_cast<int64_t>(tables.size());
  LNX_CHECK(c > 0 && count >= 0 && count % c == 0, "rans_decode_slices: ", count,
            " values do not form rows of ", c, " (one per table)");
  std::vector<const FrequencyTable*> all = pointers(tables);
  all.push_back(&occupancy);
  ValueDecoder d(data, size, all);
  std::vector<int32_t> out(static_cast<size_t>(count), 0);
  for (int64_t r = 0; r < count; r += c) {
    const int32_t flag = d.next(static_cast<size_t>(c), r);
    LNX_CHECK(flag == 0 || flag == 1, "rans_decode_slices: the flag of row ", r / c, " is ", flag,
              ", expected 0 or 1 (corrupted stream)");
    if (flag == 1)
      for (int64_t k = 0; k < c; ++k) out[r + k] = d.next(static_cast<size_t>(k), r + k);
  }
  return out;
}

}  // namespace lnx
