// The slice-sparse convolution kernel (see sparse_conv.h).
//
// Work is cut into tiles of 32 output pixels (two AVX-512 vectors) of one image. For a tile the
// kernel walks the input channels that have non-zero slices: it loads that channel's 9 shifted
// input windows once (18 registers, read from the zero-padded image split into stride phases as
// in conv.cpp, so every tap is a unit-stride load) and then, for every output channel the channel
// feeds, adds 9 broadcast-times-window FMAs into that output's 32-pixel accumulator, which lives
// in an L1-resident (O, 32) scratch tile. Only non-zero slices cost FMAs; the price per slice is
// one load and one store of the accumulator, against 18 FMAs. Two entries run together so four
// independent FMA chains hide the FMA latency. A few tiles (accumulators within 16 KB) are done
// together with the channel loop outside, so each channel's entry loop repeats its trip count
// back to back (the predictor learns it; random trip counts cost a misprediction per channel).
// Images are spread over threads when the batch covers them; a single image spreads its tiles.
// Bias, a per-pixel bias map, a residual and the relu are applied as the tile is written out.
//
// Kernels other than 3x3 and builds without AVX-512 use a plain loop over the same packing.
#include "core/cpu/sparse_conv.h"

#include <omp.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>

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

constexpr int64_t kTile = 32;  // output pixels per tile: two vectors

float* thread_scratch(size_t count, int slot) {
  thread_local std::vector<float> buffers[2];
  std::vector<float>& b = buffers[slot];
  if (b.size() < count) b.resize(count);
  return b.data();
}

// The zero-padded image split into stride phases (conv.cpp's Phases): padded pixel (R, X) lives
// in phase (R % SH, X % SW) at (R / SH, X / SW), so output pixel (r, q) reads tap (i, j) at
// r * WS + q + tap_offset(i, j) within its channel.
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
  const Conv2dParams& p = g.p;
  for (const int64_t c : active) {
    float* oc = out + c * ph.chan;
    std::fill(oc, oc + ph.chan, 0.0f);
    for (int64_t r = 0; r < g.h; ++r) {
      const float* src = x + (c * g.h + r) * g.w;
      const int64_t pr = r + p.pad_h;
      float* row = oc + (pr % p.stride_h) * p.stride_w * ph.plane + (pr / p.stride_h) * ph.ws;
      if (p.stride_w == 1) {  // rows are short (8-32 floats): inline copies, not memcpy calls
        float* dst = row + p.pad_w;
        int64_t q = 0;
        for (; q + 16 <= g.w; q += 16) _mm512_storeu_ps(dst + q, _mm512_loadu_ps(src + q));
        const __mmask16 tail = static_cast<__mmask16>((1u << (g.w - q)) - 1u);
        _mm512_mask_storeu_ps(dst + q, tail, _mm512_maskz_loadu_ps(tail, src + q));
        continue;
      }
      int64_t q = 0;
      if (p.stride_w == 2) {  // the downsampling case: split 16 columns at a time
        float* even = row + (p.pad_w % 2) * ph.plane + p.pad_w / 2;             // q = 0, 2, ...
        float* odd = row + ((p.pad_w + 1) % 2) * ph.plane + (p.pad_w + 1) / 2;  // q = 1, 3, ...
        for (; q + 16 <= g.w; q += 16) {
          const __m512 v = _mm512_loadu_ps(src + q);
          _mm256_storeu_ps(even + q / 2,
                           _mm512_castps512_ps256(_mm512_maskz_compress_ps(0x5555, v)));
          _mm256_storeu_ps(odd + q / 2,
                           _mm512_castps512_ps256(_mm512_maskz_compress_ps(0xAAAA, v)));
        }
      }
      for (; q < g.w; ++q) {
        const int64_t pq = q + p.pad_w;
        row[(pq % p.stride_w) * ph.plane + pq / p.stride_w] = src[q];
      }
    }
  }
}

// How a tile's vectors are read from a tap window: 16 pixels of one row (OW a multiple of 16),
// two 8-pixel rows (OW = 8), or a gather for any other geometry and the tail.
enum class LoadMode { Row16, Row8, Gather };

struct TileLoader {
  LoadMode mode;
  int64_t ow, ws, ohw;
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

// Adds the tile's contributions of input channel c: in[t][v] is tap t of vector v.
inline void scatter_entries(const __m512 (&in)[9][2], const SparseConvWeights& sw, int64_t e,
                            int64_t end, float* acc) {
  for (; e + 2 <= end; e += 2) {
    float* y0 = acc + sw.out[e] * kTile;
    float* y1 = acc + sw.out[e + 1] * kTile;
    const float* w0 = sw.taps.data() + e * 9;
    const float* w1 = w0 + 9;
    __m512 a00 = _mm512_loadu_ps(y0), a01 = _mm512_loadu_ps(y0 + 16);
    __m512 a10 = _mm512_loadu_ps(y1), a11 = _mm512_loadu_ps(y1 + 16);
#pragma GCC unroll 9
    for (int t = 0; t < 9; ++t) {
      const __m512 b0 = _mm512_set1_ps(w0[t]), b1 = _mm512_set1_ps(w1[t]);
      a00 = _mm512_fmadd_ps(in[t][0], b0, a00);
      a01 = _mm512_fmadd_ps(in[t][1], b0, a01);
      a10 = _mm512_fmadd_ps(in[t][0], b1, a10);
      a11 = _mm512_fmadd_ps(in[t][1], b1, a11);
    }
    _mm512_storeu_ps(y0, a00);
    _mm512_storeu_ps(y0 + 16, a01);
    _mm512_storeu_ps(y1, a10);
    _mm512_storeu_ps(y1 + 16, a11);
  }
  if (e < end) {
    float* y0 = acc + sw.out[e] * kTile;
    const float* w0 = sw.taps.data() + e * 9;
    __m512 a00 = _mm512_loadu_ps(y0), a01 = _mm512_loadu_ps(y0 + 16);
#pragma GCC unroll 9
    for (int t = 0; t < 9; ++t) {
      const __m512 b0 = _mm512_set1_ps(w0[t]);
      a00 = _mm512_fmadd_ps(in[t][0], b0, a00);
      a01 = _mm512_fmadd_ps(in[t][1], b0, a01);
    }
    _mm512_storeu_ps(y0, a00);
    _mm512_storeu_ps(y0 + 16, a01);
  }
}

// Tiles [t0, t1) of image n: phases holds that image's phase channels (chan floats each), acc is
// the thread's (t1 - t0, O, 32) accumulator scratch, yn the image's output (O, OH, OW), res the
// image's residual or null. The channel loop is outside the tile loop so each channel's entry
// loop runs with the same trip count several times in a row, which the branch predictor learns.
void sparse_tiles(const float* phases, int64_t chan, const SparseConvWeights& sw,
                  const std::vector<int64_t>& active, const int64_t (&toff)[9],
                  const TileLoader& ld, const float* bias, const float* map, const float* res,
                  bool relu, const SparseGeom& g, int64_t t0, int64_t t1, float* acc, float* yn) {
  constexpr int64_t kMaxBlock = 8;
  const int64_t nt = t1 - t0;
  __mmask16 m[kMaxBlock][2];
  int64_t base[kMaxBlock][2] = {};  // Row16 / Row8: offset of each vector within a tap window
  __m512i idx[kMaxBlock][2];
  __mmask16 gm[kMaxBlock][2] = {};
  for (int64_t b = 0; b < nt; ++b) {
    const int64_t p0 = (t0 + b) * kTile;
    float* ab = acc + b * g.o * kTile;
    for (int v = 0; v < 2; ++v) {
      const int64_t pv = p0 + 16 * v;
      const int64_t cnt = std::clamp<int64_t>(g.ohw - pv, 0, 16);
      m[b][v] = static_cast<__mmask16>((1u << cnt) - 1u);
      idx[b][v] = _mm512_setzero_si512();
      if (ld.mode == LoadMode::Gather)
        ld.indices(pv, idx[b][v], gm[b][v]);
      else
        base[b][v] = (pv / ld.ow) * ld.ws + pv % ld.ow;
    }
    for (int64_t o = 0; o < g.o; ++o)
      for (int v = 0; v < 2; ++v) {
        __m512 init = _mm512_set1_ps(bias ? bias[o] : 0.0f);
        if (map)
          init = _mm512_add_ps(init, _mm512_maskz_loadu_ps(m[b][v], map + o * g.ohw + p0 + 16 * v));
        _mm512_storeu_ps(ab + o * kTile + 16 * v, init);
      }
  }
  __m512 in[9][2];
  for (const int64_t c : active) {
    const float* xc = phases + c * chan;
    for (int64_t b = 0; b < nt; ++b) {
      if (ld.mode == LoadMode::Row16) {
#pragma GCC unroll 9
        for (int t = 0; t < 9; ++t) {
          in[t][0] = _mm512_loadu_ps(xc + toff[t] + base[b][0]);
          in[t][1] = _mm512_loadu_ps(xc + toff[t] + base[b][1]);
        }
      } else if (ld.mode == LoadMode::Row8) {
#pragma GCC unroll 9
        for (int t = 0; t < 9; ++t)
          for (int v = 0; v < 2; ++v) {
            const float* w = xc + toff[t] + base[b][v];
            in[t][v] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(w)),
                                          _mm256_loadu_ps(w + ld.ws), 1);
          }
      } else {
#pragma GCC unroll 9
        for (int t = 0; t < 9; ++t)
          for (int v = 0; v < 2; ++v)
            in[t][v] =
                _mm512_mask_i32gather_ps(_mm512_setzero_ps(), gm[b][v], idx[b][v], xc + toff[t], 4);
      }
      scatter_entries(in, sw, sw.begin[c], sw.begin[c + 1], acc + b * g.o * kTile);
    }
  }
  for (int64_t b = 0; b < nt; ++b) {
    const int64_t p0 = (t0 + b) * kTile;
    const float* ab = acc + b * g.o * kTile;
    for (int64_t o = 0; o < g.o; ++o)
      for (int v = 0; v < 2; ++v) {
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
  if (g.ow % 16 == 0)
    ld.mode = LoadMode::Row16;
  else if (g.ow == 8 && g.ohw % 16 == 0)
    ld.mode = LoadMode::Row8;
  const int64_t tiles = (g.ohw + kTile - 1) / kTile;
  // Slack past the last channel for the Row16/Row8 loads of junk columns near the end.
  const size_t phase_floats = static_cast<size_t>(g.c * ph.chan + 64);
  const int64_t block = tile_block(g.o);
  const size_t acc_floats = static_cast<size_t>(block * g.o * kTile);
  int64_t toff[9];
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 3; ++j)
      toff[i * 3 + j] = ((i % g.p.stride_h) * g.p.stride_w + j % g.p.stride_w) * ph.plane +
                        (i / g.p.stride_h) * ph.ws + j / g.p.stride_w;
  const int threads = num_threads();
  if (g.n >= threads) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t n = 0; n < g.n; ++n) {
      float* phases = thread_scratch(phase_floats, 0);
      float* acc = thread_scratch(acc_floats, 1);
      build_phases(x + n * g.c * g.h * g.w, g, ph, active, phases);
      for (int64_t t = 0; t < tiles; t += block)
        sparse_tiles(phases, ph.chan, sw, active, toff, ld, bias, map,
                     res ? res + n * g.o * g.ohw : nullptr, relu, g, t, std::min(t + block, tiles),
                     acc, y + n * g.o * g.ohw);
    }
    return;
  }
  std::vector<float> phases(phase_floats, 0.0f);  // shared by the threads of one image
  for (int64_t n = 0; n < g.n; ++n) {
    build_phases(x + n * g.c * g.h * g.w, g, ph, active, phases.data());
    // Blocks small enough that every thread gets one.
    const int64_t b1 = std::clamp<int64_t>(tiles / threads, 1, block);
    const int64_t blocks = (tiles + b1 - 1) / b1;
    const int team = static_cast<int>(std::min<int64_t>(threads, blocks));
#pragma omp parallel for schedule(static) num_threads(team)
    for (int64_t k = 0; k < blocks; ++k)
      sparse_tiles(phases.data(), ph.chan, sw, active, toff, ld, bias, map,
                   res ? res + n * g.o * g.ohw : nullptr, relu, g, k * b1,
                   std::min((k + 1) * b1, tiles), thread_scratch(acc_floats, 1),
                   y + n * g.o * g.ohw);
  }
}

#endif  // __AVX512F__

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
  const float* rp = rc.defined() ? rc.data<float>() : nullptr;
  const Tensor xc = x.contiguous();
  const Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
  const Tensor mc = bias_map.defined() ? bias_map.contiguous() : Tensor();
  Tensor y = Tensor::empty(ys, DType::Float32, x.device());
  const SparseGeom g{x.size(0), x.size(1), x.size(2),     x.size(3), w.out_channels, w.kh, w.kw,
                     ys[2],     ys[3],     ys[2] * ys[3], p};
  const float* bp = bc.defined() ? bc.data<float>() : nullptr;
  const float* mp = mc.defined() ? mc.data<float>() : nullptr;
#if defined(__AVX512F__)
  if (w.kh == 3 && w.kw == 3) {
    sparse_conv_avx512(xc.data<float>(), w, bp, mp, rp, relu, g, y.data<float>());
    return y;
  }
#endif
  sparse_conv_plain(xc.data<float>(), w, bp, mp, rp, relu, g, y.data<float>());
  return y;
}

}  // namespace lnx
