#include "core/cpu/conv_layouts.h"

#if defined(__AVX512F__)
#include <immintrin.h>

#include <algorithm>

#include "core/cpu/phases.h"

namespace lnx::cpu {
namespace {

// dst row q = column q of the 16 x 16 block at src (rows ld apart).
inline void transpose16(const float* src, int64_t ld, __m512 (&dst)[16]) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * ld);
  for (int i = 0; i < 16; i += 2) {  // interleave row pairs
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // then 2-float pairs
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int h = 0; h < 16; h += 8)  // then 128-bit lanes, twice
    for (int i = 0; i < 4; ++i) {
      t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
      t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
    }
  for (int i = 0; i < 8; ++i) {
    dst[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    dst[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
}

}  // namespace

const float* phase_images(const float* x, int64_t count, const Geom& g, const Phases& ph) {
  const int64_t channels = count * g.c;
  float* out = scratch(static_cast<size_t>(channels * ph.chan + 16), 0);
  for (int64_t c = 0; c < channels; ++c)
    write_phases(x + c * g.hw, g.h, g.w, g.p, ph.plane, ph.ws, out + c * ph.chan);
  std::fill(out + channels * ph.chan, out + channels * ph.chan + 16, 0.0f);
  return out;
}

std::vector<int64_t> tap_offsets(const Geom& g, const Phases& ph) {
  const Conv2dParams& p = g.p;
  std::vector<int64_t> off(static_cast<size_t>(g.ck));
  for (int64_t c = 0; c < g.cg; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t di = i * p.dilation_h, dj = j * p.dilation_w;
        off[static_cast<size_t>((c * g.kh + i) * g.kw + j)] =
            c * ph.chan + ((di % p.stride_h) * p.stride_w + dj % p.stride_w) * ph.plane +
            (di / p.stride_h) * ph.ws + dj / p.stride_w;
      }
  return off;
}

void transpose_rows(const float* gy, const Geom& g, int64_t ws, float* dst) {
  const int64_t og = g.og, ow = g.ow;
  const bool blocks = og % 16 == 0 && (ow % 16 == 0 || (ow == 8 && g.oh % 2 == 0));
  for (int64_t r = 0; r < g.oh; ++r) {
    float* row = dst + r * ws * og;
    if (r + 1 < g.oh) std::fill(row + ow * og, row + ws * og, 0.0f);
    if (!blocks) {
      for (int64_t o = 0; o < og; ++o)
        for (int64_t q = 0; q < ow; ++q) row[q * og + o] = gy[o * g.ohw + r * ow + q];
      continue;
    }
    if (ow == 8 && r % 2 == 1) continue;  // done with the row before
    for (int64_t o0 = 0; o0 < og; o0 += 16)
      for (int64_t q0 = 0; q0 < std::max<int64_t>(ow, 16); q0 += 16) {
        __m512 t[16];
        transpose16(gy + o0 * g.ohw + r * ow + q0, g.ohw, t);
        for (int64_t q = 0; q < 16; ++q) {  // position q0 + q of the row, or of the next (ow 8)
          const int64_t v = ow == 8 ? (q / 8) * ws + q % 8 : q0 + q;
          _mm512_storeu_ps(row + v * og + o0, t[q]);
        }
      }
  }
}

}  // namespace lnx::cpu
#endif
