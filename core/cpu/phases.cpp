#include "core/cpu/phases.h"

#include <algorithm>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace lnx {

namespace {

#if !defined(__AVX512F__)
// Stride 1: the one phase is the zero-padded image followed by slack rows, so only the border
// needs zeros. Zeroing the whole channel first cost a third more memory traffic than the copy
// alone, which is memory-bound (the source is an activation fresh from DRAM).
void zero_border(int64_t h, int64_t w, const Conv2dParams& p, int64_t ws, int64_t chan,
                 float* dst) {
  std::fill(dst, dst + p.pad_h * ws, 0.0f);
  for (int64_t r = 0; r < h; ++r) {
    float* row = dst + (p.pad_h + r) * ws;
    std::fill(row, row + p.pad_w, 0.0f);
    std::fill(row + p.pad_w + w, row + ws, 0.0f);
  }
  std::fill(dst + (p.pad_h + h) * ws, dst + chan, 0.0f);
}
#endif

// The pixels into the phases; the padding is left as it is.
void copy_to_phases(const float* src, int64_t h, int64_t w, const Conv2dParams& p, int64_t plane,
                    int64_t ws, float* dst) {
  // Padded row pr = r + pad_h lives in phase row pr % stride_h at pr / stride_h: counted up
  // rather than divided, since a division per row costs as much as copying the row.
  for (int64_t r = 0, phase = p.pad_h % p.stride_h, at = p.pad_h / p.stride_h; r < h;
       ++r, phase = phase + 1 == p.stride_h ? 0 : phase + 1, at += phase == 0, src += w) {
    float* row = dst + phase * p.stride_w * plane + at * ws;
    int64_t q = 0;
    if (p.stride_w == 1) {
      float* out = row + p.pad_w;
#if defined(__AVX512F__)
      // Rows are short (8-32 floats): inline copies, not memcpy calls.
      for (; q + 16 <= w; q += 16) _mm512_storeu_ps(out + q, _mm512_loadu_ps(src + q));
#endif
      for (; q < w; ++q) out[q] = src[q];
      continue;
    }
    if (p.stride_w == 2) {                                                 // the downsampling case
      float* even = row + (p.pad_w % 2) * plane + p.pad_w / 2;             // q = 0, 2, ...
      float* odd = row + ((p.pad_w + 1) % 2) * plane + (p.pad_w + 1) / 2;  // q = 1, 3, ...
#if defined(__AVX512F__)
      for (; q + 16 <= w; q += 16) {  // split 16 columns at a time
        const __m512 v = _mm512_loadu_ps(src + q);
        _mm256_storeu_ps(even + q / 2, _mm512_castps512_ps256(_mm512_maskz_compress_ps(0x5555, v)));
        _mm256_storeu_ps(odd + q / 2, _mm512_castps512_ps256(_mm512_maskz_compress_ps(0xAAAA, v)));
      }
#endif
      for (; q < w; ++q) (q % 2 ? odd : even)[q / 2] = src[q];
      continue;
    }
    // One pass per column phase b: input columns q with (q + pad_w) % stride_w == b.
    for (int64_t b = 0; b < p.stride_w; ++b) {
      const int64_t q0 = ((b - p.pad_w) % p.stride_w + p.stride_w) % p.stride_w;
      float* out = row + b * plane + (q0 + p.pad_w) / p.stride_w;
      for (int64_t c = q0; c < w; c += p.stride_w) *out++ = src[c];
    }
  }
}

#if defined(__AVX512F__)
// Stride 1 with AVX-512: each padded row is assembled in registers, 16 columns at a time, from
// an expand-load of the source row (the lanes on the padding read as zeros) and stored whole, so
// the padding costs no separate pass (zeroing the borders first took a memset call per padding
// column of every row).
void write_padded(const float* src, int64_t h, int64_t w, const Conv2dParams& p, int64_t ws,
                  int64_t chan, float* dst) {
  const auto below = [](int64_t n) {  // lanes [0, n) of a mask, n clamped to [0, 16]
    return static_cast<__mmask16>(n <= 0 ? 0u : n >= 16 ? 0xFFFFu : (1u << n) - 1u);
  };
  std::fill(dst, dst + p.pad_h * ws, 0.0f);
  for (int64_t r = 0; r < h; ++r) {
    float* row = dst + (p.pad_h + r) * ws;
    const float* in = src + r * w;
    for (int64_t c = 0; c < ws; c += 16) {
      // Padded column c + l holds input column c + l - pad_w when that lies in [0, w).
      const __mmask16 pixels = below(p.pad_w + w - c) & ~below(p.pad_w - c);
      const __m512 v =
          _mm512_maskz_expandloadu_ps(pixels, in + std::clamp<int64_t>(c - p.pad_w, 0, w));
      _mm512_mask_storeu_ps(row + c, below(ws - c), v);
    }
  }
  std::fill(dst + (p.pad_h + h) * ws, dst + chan, 0.0f);
}
#endif

}  // namespace

void write_phases(const float* src, int64_t h, int64_t w, const Conv2dParams& p, int64_t plane,
                  int64_t ws, float* dst) {
  const int64_t chan = plane * p.stride_h * p.stride_w;
  if (p.stride_h == 1 && p.stride_w == 1) {
#if defined(__AVX512F__)
    write_padded(src, h, w, p, ws, chan, dst);
    return;
#else
    zero_border(h, w, p, ws, chan, dst);
#endif
  } else {
    std::fill(dst, dst + chan, 0.0f);
  }
  copy_to_phases(src, h, w, p, plane, ws, dst);
}

void subsample_row(const float* src, int64_t count, int64_t stride, float* dst) {
  int64_t q = 0;
#if defined(__AVX512F__)
  if (stride == 2)
    for (; q + 8 <= count; q += 8) {  // the even lanes of 15 floats (the row may end there)
      const __m512 v = _mm512_maskz_loadu_ps(0x7fff, src + 2 * q);
      _mm256_storeu_ps(dst + q, _mm512_castps512_ps256(_mm512_maskz_compress_ps(0x5555, v)));
    }
#endif
  for (; q < count; ++q) dst[q] = src[q * stride];
}

}  // namespace lnx
