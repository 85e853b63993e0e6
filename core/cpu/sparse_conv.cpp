// The slice-sparse convolution kernel (see sparse_conv.h).
//
// Work is cut into tiles of 64 output pixels (four AVX-512 vectors) of one image. For a tile the
// kernel walks the input channels that have non-zero slices: it loads that channel's 9 shifted
// input windows once (two vectors in 18 registers, two copied to an L1 buffer and read as FMA
// memory operands) and then, for every output channel the channel feeds, adds 9
// broadcast-times-window FMAs into that output's 64-pixel accumulator, which lives in an
// L1-resident (O, 64) scratch tile. Only non-zero slices cost FMAs; the price per slice is four
// loads and four stores of the accumulator and 9 broadcasts, against 36 FMAs. Consecutive entries
// of a channel feed different outputs, so out-of-order execution overlaps their FMA chains.
//
// Windows: a "same" stride-1 convolution reads them straight from the input with lane masks for
// the padding (Direct below); when its rows are 8, 16 or 32 wide (every ResNet stage), the four
// vectors' windows overlap and all fit in registers (SharedRows), which is the fast path. The
// stride-2 "halving" convolutions of even-sized images read them from the input too, with
// permutes picking the even or odd pixels (Stride2). Other geometries read the zero-padded image
// split into stride phases as the dense kernels do (conv_layouts.h), so every tap is a
// unit-stride load.
//
// A few tiles (accumulators within 16 KB) are done together with the channel loop outside, so
// each channel's entry loop repeats its trip count back to back (the predictor learns it; random
// trip counts cost a misprediction per channel). Images are spread over threads when the batch
// covers them; a single image spreads its tiles. Bias, a per-pixel bias map, a residual and the
// relu are applied as the tile is written out. Measured on one core with the data in cache
// (ResNet-20 shapes, random slices): at full density the kernel runs at the dense kernel's
// FLOP rate; at 50% zero slices at 80-95% of it, the rest being the window loads and the tile's
// bias and write-out, which do not shrink with the slices.
//
// Kernels other than 3x3 and builds without AVX-512 use a plain loop over the same packing.
#include "core/cpu/sparse_conv.h"

#include <omp.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdint>

#include "core/cpu/phases.h"
#include "core/ops.h"

namespace lnx {
namespace {

struct SparseGeom {
  int64_t n, c, h, w, o, kh, kw, oh, ow, ohw;
  Conv2dParams p;
};

// Plain reference loop: the fallback and the definition the fast kernel must match.
void sparse_conv_plain(const float* x, const SparseConvWeights& sw, const float* bias,
                       const float* map, const float* res, bool relu, const SparseGeom& g,
                       float* y) {
  const int64_t kk = g.kh * g.kw;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t n = 0; n < g.n; ++n) {
    float* yn = y + n * g.o * g.ohw;
    for (int64_t o = 0; o < g.o; ++o)
      for (int64_t v = 0; v < g.ohw; ++v)
        yn[o * g.ohw + v] = (bias ? bias[o] : 0.0f) + (map ? map[o * g.ohw + v] : 0.0f);
    for (int64_t c = 0; c < g.c; ++c) {
      const float* xc = x + (n * g.c + c) * g.h * g.w;
      for (int64_t e = sw.begin[c]; e < sw.begin[c + 1]; ++e) {
        float* yo = yn + sw.out[e] * g.ohw;
        const float* t = sw.taps.data() + e * kk;
        for (int64_t i = 0; i < g.kh; ++i)
          for (int64_t j = 0; j < g.kw; ++j) {
            const float wv = t[i * g.kw + j];
            for (int64_t r = 0; r < g.oh; ++r) {
              const int64_t ir = r * g.p.stride_h - g.p.pad_h + i;
              if (ir < 0 || ir >= g.h) continue;
              for (int64_t q = 0; q < g.ow; ++q) {
                const int64_t iq = q * g.p.stride_w - g.p.pad_w + j;
                if (iq >= 0 && iq < g.w) yo[r * g.ow + q] += wv * xc[ir * g.w + iq];
              }
            }
          }
      }
    }
    if (res)
      for (int64_t v = 0; v < g.o * g.ohw; ++v) yn[v] += res[n * g.o * g.ohw + v];
    if (relu)
      for (int64_t v = 0; v < g.o * g.ohw; ++v) yn[v] = std::max(yn[v], 0.0f);
  }
}

#if defined(__AVX512F__)

constexpr int64_t kTile = 64;  // output pixels per tile: four vectors

// Per-thread scratch, 64-byte aligned so that each accumulator vector sits in one cache line.
float* thread_scratch(size_t count, int slot) {
  thread_local std::vector<float> buffers[2];
  std::vector<float>& b = buffers[slot];
  if (b.size() < count + 16) b.resize(count + 16);
  const auto addr = reinterpret_cast<std::uintptr_t>(b.data());
  return b.data() + (64 - addr % 64) % 64 / sizeof(float);
}

// The zero-padded image split into stride phases (Phases in conv_layouts.h, plus a row of slack):
// padded pixel (R, X) lives in phase (R % SH, X % SW) at (R / SH, X / SW), so output pixel
// (r, q) reads tap (i, j) at r * WS + q + tap_offset(i, j) within its channel.
struct PhaseLayout {
  int64_t hs, ws, plane, chan;
  explicit PhaseLayout(const SparseGeom& g) {
    hs = (g.h + 2 * g.p.pad_h + g.p.stride_h - 1) / g.p.stride_h + 1;  // +1 row of slack
    ws = (g.w + 2 * g.p.pad_w + g.p.stride_w - 1) / g.p.stride_w;
    plane = hs * ws;
    chan = plane * g.p.stride_h * g.p.stride_w;
  }
};

// Builds the phases of the channels that have entries; the others are never read.
void build_phases(const float* x, const SparseGeom& g, const PhaseLayout& ph,
                  const std::vector<int64_t>& active, float* out) {
  for (const int64_t c : active)
    write_phases(x + c * g.h * g.w, g.h, g.w, g.p, ph.plane, ph.ws, out + c * ph.chan);
}

// How a tile's vectors are read from a tap window: 16 pixels of one row (OW a multiple of 16),
// two 8-pixel rows (OW = 8), or a gather for any other geometry and the tail. Direct and Stride2
// read the unpadded input itself (see below); the others read the phase images.
enum class LoadMode { Direct, Stride2, Row16, Row8, Gather };

struct TileLoader {
  LoadMode mode;
  int64_t ow, ws, ohw;
  // Direct: the lanes of each (tile, vector, tap) that read inside the image, (tiles, 4, 9).
  const __mmask16* masks = nullptr;
  // Gather indices of one vector: pixel p0 + k at (p / OW) * WS + p % OW; masked past OHW.
  void indices(int64_t p0, __m512i& idx, __mmask16& mask) const {
    alignas(64) int32_t ix[16];
    mask = 0;
    for (int k = 0; k < 16; ++k) {
      const int64_t pix = p0 + k;
      ix[k] = pix < ohw ? static_cast<int32_t>((pix / ow) * ws + pix % ow) : 0;
      if (pix < ohw) mask = static_cast<__mmask16>(mask | (1u << k));
    }
    idx = _mm512_load_si512(ix);
  }
};

// Direct mode: a "same" stride-1 convolution (OH, OW = H, W) reads tap (i, j) of output pixel p
// at input offset p + (i - pad_h) * W + (j - pad_w), so a tile vector's window is 16 consecutive
// floats of the unpadded image. Lanes whose tap falls in the padding (or past the image) are
// masked to zero, and masked lanes never fault, so no padded copy of the input is needed.
std::vector<__mmask16> direct_masks(const SparseGeom& g, int64_t tiles) {
  constexpr int kVec = kTile / 16;
  std::vector<__mmask16> masks(static_cast<size_t>(tiles * kVec * 9));
  const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512 width = _mm512_set1_ps(static_cast<float>(g.w));
  const __m512i w = _mm512_set1_epi32(static_cast<int32_t>(g.w));
  const __m512i h = _mm512_set1_epi32(static_cast<int32_t>(g.h));
  const __m512i zero = _mm512_setzero_si512();
  for (int64_t k = 0; k < tiles * kVec; ++k) {
    const __m512i pix = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(16 * k)), iota);
    const __mmask16 inside =
        _mm512_cmplt_epi32_mask(pix, _mm512_set1_epi32(static_cast<int32_t>(g.ohw)));
    // Row = floor((pix + 0.5) / W): exact in float32 while pix < 2^23 (the caller's limit), as
    // the quotient then stays further than its rounding error from the next integer.
    const __m512i r = _mm512_cvttps_epi32(
        _mm512_div_ps(_mm512_add_ps(_mm512_cvtepi32_ps(pix), _mm512_set1_ps(0.5f)), width));
    const __m512i q = _mm512_sub_epi32(pix, _mm512_mullo_epi32(r, w));
    __mmask16 rows[3], cols[3];
    for (int i = 0; i < 3; ++i) {
      const __m512i rr =
          _mm512_add_epi32(r, _mm512_set1_epi32(static_cast<int32_t>(i - g.p.pad_h)));
      const __m512i qq =
          _mm512_add_epi32(q, _mm512_set1_epi32(static_cast<int32_t>(i - g.p.pad_w)));
      rows[i] = _mm512_mask_cmplt_epi32_mask(_mm512_mask_cmpge_epi32_mask(inside, rr, zero), rr, h);
      cols[i] = _mm512_mask_cmplt_epi32_mask(_mm512_cmpge_epi32_mask(qq, zero), qq, w);
    }
    for (int t = 0; t < 9; ++t)
      masks[static_cast<size_t>(k * 9 + t)] = static_cast<__mmask16>(rows[t / 3] & cols[t % 3]);
  }
  return masks;
}

// Stride2 mode: a 3x3, stride-2, pad-1 convolution of an image of even size (H, W = 2 OH, 2 OW)
// with OW a multiple of 16 or OW = 8 (the downsampling layers of the ResNets). Tap row i of a
// tile vector reads two 16-float input pieces A and B: one row at columns 2 q0 .. 2 q0 + 31
// (OW % 16 = 0), or input rows R and R + 2 whole (OW = 8, a vector covers two output rows). The
// three column taps are then lanes 2k + j - 1 of A:B, one permute each; lane 0 of the j = 0 tap
// (and lane 8 when OW = 8) is the padding, or the pixel just before A when q0 > 0. So no phase
// images are built: per channel a tile costs 24 loads, 36 permutes and 18 stores.
struct Stride2Vec {
  int64_t a = 0, b = 0;              // offsets of A and B in the channel at tap row 0 (+ i * W)
  __mmask16 ma[3] = {}, mb[3] = {};  // all lanes, or none when the row is outside the image
  __mmask16 before[3] = {};          // lane 0 of the j = 0 tap comes from offset a - 1
};

bool stride2_geometry(const SparseGeom& g) {
  return g.kh == 3 && g.kw == 3 && g.p.stride_h == 2 && g.p.stride_w == 2 && g.p.pad_h == 1 &&
         g.p.pad_w == 1 && g.h == 2 * g.oh && g.w == 2 * g.ow &&
         (g.ow % 16 == 0 || (g.ow == 8 && g.ohw % 16 == 0));
}

// The vector of 16 output pixels starting at pv (past the image: every row mask empty).
Stride2Vec stride2_vec(const SparseGeom& g, int64_t pv) {
  Stride2Vec s;
  const int64_t r = pv / g.ow, q0 = pv % g.ow;
  const int64_t row_b = g.ow == 8 ? 2 : 0;  // B's row below A's
  s.a = (2 * r - 1) * g.w + 2 * q0;
  s.b = s.a + row_b * g.w + (g.ow == 8 ? 0 : 16);
  for (int i = 0; i < 3; ++i) {
    const int64_t ra = 2 * r - 1 + i, rb = ra + row_b;
    const bool in_a = pv < g.ohw && ra >= 0 && ra < g.h, in_b = pv < g.ohw && rb >= 0 && rb < g.h;
    s.ma[i] = in_a ? 0xffff : 0;
    s.mb[i] = in_b ? 0xffff : 0;
    s.before[i] = in_a && q0 > 0 ? 1 : 0;
  }
  return s;
}

// The three column taps of tap row i, lanes 2k + j - 1 of A:B.
inline void stride2_windows(const float* xc, const Stride2Vec& s, int i, int64_t w, bool rows8,
                            __m512 (&win)[3]) {
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i prev = _mm512_sub_epi32(even, _mm512_set1_epi32(1));
  const float* row = xc + i * w;
  const __m512 a = _mm512_maskz_loadu_ps(s.ma[i], row + s.a);
  const __m512 b = _mm512_maskz_loadu_ps(s.mb[i], row + s.b);
  const __mmask16 shifted = rows8 ? 0xfefe : 0xfffe;  // lanes whose pixel is in A:B
  win[0] = _mm512_mask_loadu_ps(_mm512_maskz_permutex2var_ps(shifted, a, prev, b), s.before[i],
                                row + s.a - 1);
  win[1] = _mm512_permutex2var_ps(a, even, b);
  win[2] = _mm512_permutex2var_ps(a, odd, b);
}

// Adds the tile's contributions of input channel c. Vectors 0 and 1 of tap t are in[t][0..1]
// (registers); vectors 2 and 3 are far[t][0..1] (L1), read as FMA memory operands: a weight
// broadcast then feeds four FMAs, and 18 window registers leave room for the accumulators.
inline void scatter_entries(const __m512 (&in)[9][2], const float (&far)[9][2][16],
                            const int32_t* out, const float* taps, int64_t e, int64_t end,
                            float* acc) {
  for (; e < end; ++e) {
    float* y = acc + out[e] * kTile;
    const float* w = taps + e * 9;
    __m512 a0 = _mm512_loadu_ps(y), a1 = _mm512_loadu_ps(y + 16);
    __m512 a2 = _mm512_loadu_ps(y + 32), a3 = _mm512_loadu_ps(y + 48);
#pragma GCC unroll 9
    for (int t = 0; t < 9; ++t) {
      const __m512 b = _mm512_set1_ps(w[t]);
      a0 = _mm512_fmadd_ps(in[t][0], b, a0);
      a1 = _mm512_fmadd_ps(in[t][1], b, a1);
      a2 = _mm512_fmadd_ps(_mm512_load_ps(far[t][0]), b, a2);
      a3 = _mm512_fmadd_ps(_mm512_load_ps(far[t][1]), b, a3);
    }
    _mm512_storeu_ps(y, a0);
    _mm512_storeu_ps(y + 16, a1);
    _mm512_storeu_ps(y + 32, a2);
    _mm512_storeu_ps(y + 48, a3);
  }
}

// Direct mode on rows 8, 16 or 32 floats wide (the ResNet stages at 8x8, 16x16 and 32x32): vector
// v's window for tap row i starts at input offset 16 * v + (i - 1) * kW, and different (v, i)
// share offsets. Only 9, 6 or 8 distinct offsets times 3 column shifts are loaded, all kept in
// registers: no window buffer, and per entry only the broadcasts and the accumulator touch
// memory.
template <int kW>
struct SharedRows {
  static constexpr int kStep = kW < 16 ? kW : 16;  // offsets are multiples of this
  static constexpr int kRows = (48 + 2 * kW) / kStep + 1;
  // The slot of vector v at tap row i: its offset, plus kW, in steps.
  static constexpr int slot(int v, int i) { return (16 * v + i * kW) / kStep; }
  // A (v, i) reading slot s, with the smallest v (the last tile's far vectors may be past the
  // image; their lanes are never stored, and the smallest v is inside whenever any is).
  static constexpr int tap_row(int s) {
    for (int i = 2; i > 0; --i)
      if (s * kStep >= i * kW && (s * kStep - i * kW) % 16 == 0) return i;
    return 0;
  }
  static constexpr int vec(int s) { return (s * kStep - tap_row(s) * kW) / 16; }
  static constexpr bool consistent() {
    for (int s = 0; s < kRows; ++s)
      if (vec(s) < 0 || vec(s) > 3 || slot(vec(s), tap_row(s)) != s) return false;
    return slot(3, 2) == kRows - 1;
  }
};
static_assert(SharedRows<8>::consistent() && SharedRows<16>::consistent() &&
              SharedRows<32>::consistent());

// Direct mode implies padding 1 (a 3x3 kernel keeps the size only then), hence the (i - 1) and
// (j - 1) below; masks (4, 9) are the tile's lanes inside the image, as in direct_masks.
template <int kW>
inline void channel_rows(const float* xc, int64_t p0, const __mmask16* masks, const int32_t* out,
                         const float* taps, int64_t e, int64_t end, float* acc) {
  using R = SharedRows<kW>;
  __m512 win[R::kRows][3];
#pragma GCC unroll 9
  for (int s = 0; s < R::kRows; ++s)
#pragma GCC unroll 3
    for (int j = 0; j < 3; ++j) {
      const int v = R::vec(s), i = R::tap_row(s);
      win[s][j] = _mm512_maskz_loadu_ps(masks[v * 9 + i * 3 + j],
                                        xc + p0 + 16 * v + (i - 1) * kW + (j - 1));
    }
  for (; e < end; ++e) {
    float* y = acc + out[e] * kTile;
    const float* w = taps + e * 9;
    __m512 a[4];
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) a[v] = _mm512_loadu_ps(y + 16 * v);
#pragma GCC unroll 3
    for (int i = 0; i < 3; ++i)
#pragma GCC unroll 3
      for (int j = 0; j < 3; ++j) {
        const __m512 b = _mm512_set1_ps(w[i * 3 + j]);
#pragma GCC unroll 4
        for (int v = 0; v < 4; ++v) a[v] = _mm512_fmadd_ps(win[R::slot(v, i)][j], b, a[v]);
      }
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) _mm512_storeu_ps(y + 16 * v, a[v]);
  }
}

// Tiles [t0, t1) of image n: phases holds that image's channels (chan floats each) as ld reads
// them, the phase images or in Direct mode the input itself; acc is the thread's (t1 - t0, O, 64)
// accumulator scratch, yn the image's output (O, OH, OW), res the image's residual or null. The
// channel loop is outside the tile loop so each channel's entry loop runs with the same trip
// count several times in a row, which the branch predictor learns.
void sparse_tiles(const float* phases, int64_t chan, const SparseConvWeights& sw,
                  const std::vector<int64_t>& active, const int64_t (&toff)[9],
                  const TileLoader& ld, const float* bias, const float* map, const float* res,
                  bool relu, const SparseGeom& g, int64_t t0, int64_t t1, float* acc, float* yn) {
  constexpr int64_t kMaxBlock = 8;
  constexpr int kVec = kTile / 16;
  const int64_t nt = t1 - t0;
  __mmask16 m[kMaxBlock][kVec];
  int64_t base[kMaxBlock][kVec] = {};  // Row16 / Row8: offset of each vector within a tap window
  __m512i idx[kMaxBlock][kVec];
  __mmask16 gm[kMaxBlock][kVec] = {};
  Stride2Vec s2[kMaxBlock][kVec];
  for (int64_t b = 0; b < nt; ++b) {
    const int64_t p0 = (t0 + b) * kTile;
    float* ab = acc + b * g.o * kTile;
    for (int v = 0; v < kVec; ++v) {
      const int64_t pv = p0 + 16 * v;
      const int64_t cnt = std::clamp<int64_t>(g.ohw - pv, 0, 16);
      m[b][v] = static_cast<__mmask16>((1u << cnt) - 1u);
      idx[b][v] = _mm512_setzero_si512();
      if (ld.mode == LoadMode::Gather)
        ld.indices(pv, idx[b][v], gm[b][v]);
      else if (ld.mode == LoadMode::Direct)
        base[b][v] = pv;
      else if (ld.mode == LoadMode::Stride2)
        s2[b][v] = stride2_vec(g, pv);
      else
        base[b][v] = (pv / ld.ow) * ld.ws + pv % ld.ow;
    }
    for (int64_t o = 0; o < g.o; ++o)
      for (int v = 0; v < kVec; ++v) {
        __m512 init = _mm512_set1_ps(bias ? bias[o] : 0.0f);
        if (map)
          init = _mm512_add_ps(init, _mm512_maskz_loadu_ps(m[b][v], map + o * g.ohw + p0 + 16 * v));
        _mm512_storeu_ps(ab + o * kTile + 16 * v, init);
      }
  }
  // Vector v of tap t's window for tile b of channel data xc.
  auto window = [&](const float* xc, int64_t b, int t, int v) {
    if (ld.mode == LoadMode::Direct)
      return _mm512_maskz_loadu_ps(ld.masks[((t0 + b) * kVec + v) * 9 + t],
                                   xc + toff[t] + base[b][v]);
    if (ld.mode == LoadMode::Row16) return _mm512_loadu_ps(xc + toff[t] + base[b][v]);
    if (ld.mode == LoadMode::Row8) {
      const float* w = xc + toff[t] + base[b][v];
      return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(w)),
                                _mm256_loadu_ps(w + ld.ws), 1);
    }
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), gm[b][v], idx[b][v], xc + toff[t], 4);
  };
  const int32_t* out = sw.out.data();
  const float* taps = sw.taps.data();
  __m512 in[9][2];
  alignas(64) float far[9][2][16];
  const int shared =
      ld.mode == LoadMode::Direct && (ld.ow == 8 || ld.ow == 16 || ld.ow == 32) ? ld.ow : 0;
  for (const int64_t c : active) {
    const float* xc = phases + c * chan;
    for (int64_t b = 0; b < nt; ++b) {
      if (shared != 0) {
        const __mmask16* tm = ld.masks + (t0 + b) * kVec * 9;
        float* ab = acc + b * g.o * kTile;
        const int64_t p0 = (t0 + b) * kTile, e0 = sw.begin[c], e1 = sw.begin[c + 1];
        if (shared == 32)
          channel_rows<32>(xc, p0, tm, out, taps, e0, e1, ab);
        else if (shared == 16)
          channel_rows<16>(xc, p0, tm, out, taps, e0, e1, ab);
        else
          channel_rows<8>(xc, p0, tm, out, taps, e0, e1, ab);
        continue;
      }
      if (ld.mode == LoadMode::Stride2) {
#pragma GCC unroll 3
        for (int i = 0; i < 3; ++i)
#pragma GCC unroll 4
          for (int v = 0; v < kVec; ++v) {
            __m512 win[3];
            stride2_windows(xc, s2[b][v], i, g.w, g.ow == 8, win);
#pragma GCC unroll 3
            for (int j = 0; j < 3; ++j) {
              if (v < 2)
                in[i * 3 + j][v] = win[j];
              else
                _mm512_store_ps(far[i * 3 + j][v - 2], win[j]);
            }
          }
        scatter_entries(in, far, out, taps, sw.begin[c], sw.begin[c + 1], acc + b * g.o * kTile);
        continue;
      }
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) {
        in[t][0] = window(xc, b, t, 0);
        in[t][1] = window(xc, b, t, 1);
        _mm512_store_ps(far[t][0], window(xc, b, t, 2));
        _mm512_store_ps(far[t][1], window(xc, b, t, 3));
      }
      scatter_entries(in, far, out, taps, sw.begin[c], sw.begin[c + 1], acc + b * g.o * kTile);
    }
  }
  for (int64_t b = 0; b < nt; ++b) {
    const int64_t p0 = (t0 + b) * kTile;
    const float* ab = acc + b * g.o * kTile;
    for (int64_t o = 0; o < g.o; ++o)
      for (int v = 0; v < kVec; ++v) {
        if (!m[b][v]) continue;
        __m512 val = _mm512_loadu_ps(ab + o * kTile + 16 * v);
        if (res)
          val = _mm512_add_ps(val, _mm512_maskz_loadu_ps(m[b][v], res + o * g.ohw + p0 + 16 * v));
        if (relu) val = _mm512_max_ps(val, _mm512_setzero_ps());
        _mm512_mask_storeu_ps(yn + o * g.ohw + p0 + 16 * v, m[b][v], val);
      }
  }
}

// Tiles per block: the block's accumulators stay within 16 KB of L1.
int64_t tile_block(int64_t out_channels) {
  return std::clamp<int64_t>(4096 / (out_channels * kTile), 1, 8);
}

void sparse_conv_avx512(const float* x, const SparseConvWeights& sw, const float* bias,
                        const float* map, const float* res, bool relu, const SparseGeom& g,
                        float* y) {
  const PhaseLayout ph(g);
  std::vector<int64_t> active;
  for (int64_t c = 0; c < g.c; ++c)
    if (sw.begin[c + 1] > sw.begin[c]) active.push_back(c);
  TileLoader ld{LoadMode::Gather, g.ow, ph.ws, g.ohw};
  const bool direct = g.p.stride_h == 1 && g.p.stride_w == 1 && g.oh == g.h && g.ow == g.w &&
                      g.ohw < (int64_t{1} << 22);       // direct_masks' float row arithmetic
  const bool unpadded = direct || stride2_geometry(g);  // windows read from the input itself
  if (direct)
    ld.mode = LoadMode::Direct;
  else if (unpadded)
    ld.mode = LoadMode::Stride2;
  else if (g.ow % 16 == 0)
    ld.mode = LoadMode::Row16;
  else if (g.ow == 8 && g.ohw % 16 == 0)
    ld.mode = LoadMode::Row8;
  const int64_t tiles = (g.ohw + kTile - 1) / kTile;
  std::vector<__mmask16> masks;
  if (direct) {
    masks = direct_masks(g, tiles);
    ld.masks = masks.data();
  }
  int64_t toff[9];
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 3; ++j)
      toff[i * 3 + j] = direct ? (i - g.p.pad_h) * g.w + (j - g.p.pad_w)
                               : ((i % g.p.stride_h) * g.p.stride_w + j % g.p.stride_w) * ph.plane +
                                     (i / g.p.stride_h) * ph.ws + j / g.p.stride_w;
  // The last tile's vectors past the image still load (their lanes are never stored): slack
  // past the last channel keeps those Row16/Row8 loads inside the buffer.
  const int64_t last = tiles * kTile - 16;  // first pixel of the last vector loaded
  const int64_t reach = (last / g.ow) * ph.ws + last % g.ow + *std::max_element(toff, toff + 9) +
                        16 + (ld.mode == LoadMode::Row8 ? ph.ws : 0);
  const size_t phase_floats =
      static_cast<size_t>(g.c * ph.chan + std::max<int64_t>(reach - ph.chan, 0) + 16);
  const int64_t block = tile_block(g.o);
  const size_t acc_floats = static_cast<size_t>(block * g.o * kTile);
  const int threads = num_threads();
  if (g.n >= threads) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t n = 0; n < g.n; ++n) {
      const float* xn = x + n * g.c * g.h * g.w;
      float* acc = thread_scratch(acc_floats, 1);
      const float* phases = xn;
      if (!unpadded) {
        float* built = thread_scratch(phase_floats, 0);
        build_phases(xn, g, ph, active, built);
        phases = built;
      }
      for (int64_t t = 0; t < tiles; t += block)
        sparse_tiles(phases, unpadded ? g.h * g.w : ph.chan, sw, active, toff, ld, bias, map,
                     res ? res + n * g.o * g.ohw : nullptr, relu, g, t, std::min(t + block, tiles),
                     acc, y + n * g.o * g.ohw);
    }
    return;
  }
  std::vector<float> built;  // phases shared by the threads of one image
  if (!unpadded) built.assign(phase_floats, 0.0f);
  for (int64_t n = 0; n < g.n; ++n) {
    const float* phases = x + n * g.c * g.h * g.w;
    if (!unpadded) {
      build_phases(phases, g, ph, active, built.data());
      phases = built.data();
    }
    // Blocks small enough that every thread gets one.
    const int64_t b1 = std::clamp<int64_t>(tiles / threads, 1, block);
    const int64_t blocks = (tiles + b1 - 1) / b1;
    const int team = static_cast<int>(std::min<int64_t>(threads, blocks));
#pragma omp parallel for schedule(static) num_threads(team)
    for (int64_t k = 0; k < blocks; ++k)
      sparse_tiles(phases, unpadded ? g.h * g.w : ph.chan, sw, active, toff, ld, bias, map,
                   res ? res + n * g.o * g.ohw : nullptr, relu, g, k * b1,
                   std::min((k + 1) * b1, tiles), thread_scratch(acc_floats, 1),
                   y + n * g.o * g.ohw);
  }
}

#endif  // __AVX512F__

SparseGeom geom(const Shape& x, const SparseConvWeights& w, const Shape& y, const Conv2dParams& p) {
  return {x[0], x[1], x[2], x[3], w.out_channels, w.kh, w.kw, y[2], y[3], y[2] * y[3], p};
}

void run_sparse_conv(const float* x, const SparseConvWeights& w, const float* bias,
                     const float* map, const float* res, bool relu, const SparseGeom& g, float* y) {
#if defined(__AVX512F__)
  if (w.kh == 3 && w.kw == 3) {
    sparse_conv_avx512(x, w, bias, map, res, relu, g, y);
    return;
  }
#endif
  sparse_conv_plain(x, w, bias, map, res, relu, g, y);
}

}  // namespace

SparseConvWeights pack_sparse_conv(const Tensor& w) {
  LNX_CHECK(w.defined() && w.dtype() == DType::Float32 && w.device().is_cpu() && w.dim() == 4,
            "pack_sparse_conv: weight must be a 4-D float32 CPU tensor (O, I, KH, KW), got shape ",
            w.defined() ? to_string(w.shape()) : std::string("undefined"));
  const Tensor wc = w.contiguous();
  SparseConvWeights s;
  s.out_channels = w.size(0), s.in_channels = w.size(1), s.kh = w.size(2), s.kw = w.size(3);
  const int64_t kk = s.kh * s.kw;
  const float* p = wc.data<float>();
  s.begin.assign(static_cast<size_t>(s.in_channels + 1), 0);
  for (int64_t c = 0; c < s.in_channels; ++c) {
    s.begin[c] = s.entries();
    for (int64_t o = 0; o < s.out_channels; ++o) {
      const float* slice = p + (o * s.in_channels + c) * kk;
      if (std::all_of(slice, slice + kk, [](float v) { return v == 0.0f; })) continue;
      s.out.push_back(static_cast<int32_t>(o));
      s.taps.insert(s.taps.end(), slice, slice + kk);
    }
  }
  s.begin[s.in_channels] = s.entries();
  return s;
}

Tensor sparse_conv2d(const Tensor& x, const SparseConvWeights& w, const Tensor& bias,
                     const Tensor& bias_map, const Conv2dParams& p, bool relu,
                     const Tensor& residual) {
  const char* op = "sparse_conv2d";
  LNX_CHECK(x.defined() && x.dtype() == DType::Float32 && x.device().is_cpu(), op,
            ": input must be a float32 CPU tensor");
  LNX_CHECK(p.groups == 1 && p.dilation_h == 1 && p.dilation_w == 1, op,
            ": only groups = 1 and dilation 1 are supported, got groups=", p.groups, " dilation=(",
            p.dilation_h, ", ", p.dilation_w, ")");
  const Shape ws{w.out_channels, w.in_channels, w.kh, w.kw};
  const Shape ys = ops::conv2d_output_shape(x.shape(), ws, p);
  LNX_CHECK(static_cast<int64_t>(w.begin.size()) == w.in_channels + 1, op,
            ": packed weight is malformed (begin has ", w.begin.size(), " entries, expected ",
            w.in_channels + 1, ")");
  if (bias.defined())
    LNX_CHECK(bias.shape() == Shape{ys[1]} && bias.dtype() == DType::Float32, op,
              ": bias has shape ", to_string(bias.shape()), ", expected [", ys[1], "]");
  const Shape map_shape{ys[1], ys[2], ys[3]};
  if (bias_map.defined())
    LNX_CHECK(bias_map.shape() == map_shape && bias_map.dtype() == DType::Float32, op,
              ": bias_map has shape ", to_string(bias_map.shape()), ", expected ",
              to_string(map_shape));
  if (residual.defined())
    LNX_CHECK(residual.shape() == ys && residual.dtype() == DType::Float32, op,
              ": residual has shape ", to_string(residual.shape()), ", expected ", to_string(ys));
  const Tensor rc = residual.defined() ? residual.contiguous() : Tensor();
  const Tensor xc = x.contiguous();
  const Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
  const Tensor mc = bias_map.defined() ? bias_map.contiguous() : Tensor();
  Tensor y = Tensor::empty(ys, DType::Float32, x.device());
  run_sparse_conv(xc.data<float>(), w, bc.defined() ? bc.data<float>() : nullptr,
                  mc.defined() ? mc.data<float>() : nullptr,
                  rc.defined() ? rc.data<float>() : nullptr, relu, geom(x.shape(), w, ys, p),
                  y.data<float>());
  return y;
}

bool slice_skipping_pays(int64_t out_pixels, double density) {
  // Crossovers measured on whole batches of 128 (ResNet-20 shapes at widths 1 and 4, two
  // threads, random slices), per host: they differ by vendor. Where they differ at width 1 (the
  // 32x32 and 16x16 layers, dense on the direct kernel) the slice kernel's sums equal the
  // direct kernel's bit for bit, so the choice changes only speed.
  // Intel Xeon (Emerald Rapids, `lilnetx bench sparse --width 1` and `--width 4`, 2026-12-03):
  // the slice kernel beat the dense one (direct, or Winograd for 64+ channels) on every shape
  // from density 0.7 down, 1.0-1.9x there; a training step of a 65%-sparse ResNet-20 took 4%
  // less time than with the AMD crossovers (docs/benchmarks.md).
  static const bool intel = __builtin_cpu_is("intel");
  if (intel) return density <= (out_pixels >= 256 ? 0.7 : 0.75);
  // AMD EPYC (Zen 5, 2026-11-29): below these densities the sparse kernel took at most 0.9-0.95
  // of the dense kernel's time. At 32x32 it is weakest: the dense kernel runs there near the
  // FMA peak, while the sparse one loads and stores its accumulators for every slice (at full
  // density 1.3-1.5x the dense time, against 1.0-1.3x on smaller images).
  if (out_pixels >= 1024) return density <= 0.35;
  if (out_pixels >= 256) return density <= 0.6;
  return density <= 0.75;
}

bool conv2d_skipping_slices([[maybe_unused]] const Tensor& x, [[maybe_unused]] const Tensor& w,
                            [[maybe_unused]] const Tensor& bias,
                            [[maybe_unused]] const Conv2dParams& p,
                            [[maybe_unused]] const Tensor& y) {
#if defined(__AVX512F__)
  if (p.groups != 1 || p.dilation_h != 1 || p.dilation_w != 1 || w.size(2) != 3 || w.size(3) != 3 ||
      w.size(0) * w.size(1) == 0)
    return false;
  const float* wp = w.data<float>();  // (O, I, 3, 3)
  const int64_t slices = w.size(0) * w.size(1);
  int64_t nonzero = 0;
  for (int64_t s = 0; s < slices; ++s)
    nonzero += std::any_of(wp + 9 * s, wp + 9 * s + 9, [](float v) { return v != 0.0f; });
  if (!slice_skipping_pays(y.size(2) * y.size(3), static_cast<double>(nonzero) / slices))
    return false;
  const SparseConvWeights sw = pack_sparse_conv(w);
  sparse_conv_avx512(x.data<float>(), sw, bias.defined() ? bias.data<float>() : nullptr, nullptr,
                     nullptr, false, geom(x.shape(), sw, y.shape(), p), y.data<float>());
  return true;
#else
  return false;  // the plain loop never beats the dense GEMM
#endif
}

}  // namespace lnx
