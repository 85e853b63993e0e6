#include "core/cpu/strided_input_grad.h"

#if defined(__AVX512F__)
#include <immintrin.h>

#include <algorithm>

#include "core/cpu/direct_gemm.h"
#include "core/cpu/phases.h"

namespace lnx::cpu {

StridedInputGrad::StridedInputGrad(const Geom& g) : g_(g) {
  const Conv2dParams& p = g.p;
  for (int64_t py = 0; py < p.stride_h; ++py)
    for (int64_t px = 0; px < p.stride_w; ++px) {
      Phase ph;
      ph.py = py, ph.px = px;
      ph.rows = (g.h - py + p.stride_h - 1) / p.stride_h;
      ph.cols = (g.w - px + p.stride_w - 1) / p.stride_w;
      for (int64_t i = 0; i < g.kh; ++i)
        if ((py + p.pad_h - i) % p.stride_h == 0) ph.dy.push_back((py + p.pad_h - i) / p.stride_h);
      for (int64_t j = 0; j < g.kw; ++j)
        if ((px + p.pad_w - j) % p.stride_w == 0) ph.dx.push_back((px + p.pad_w - j) / p.stride_w);
      if (ph.rows > 0 && ph.cols > 0) {
        for (int64_t d : ph.dy) {
          top_ = std::max(top_, -d);
          bottom_ = std::max(bottom_, ph.rows - 1 + d - (g.oh - 1));
        }
        for (int64_t d : ph.dx) {
          left_ = std::max(left_, -d);
          right_ = std::max(right_, ph.cols - 1 + d - (g.ow - 1));
        }
      }
      phases_.push_back(std::move(ph));
    }
  ws_ = left_ + g.ow + right_;
  plane_ = (top_ + g.oh + bottom_) * ws_;
  for (Phase& ph : phases_) {
    if (ph.rows == 0 || ph.cols == 0) continue;
    ph.whole_rows = rows_fill_vectors(ph.cols);
    ph.ld = ph.whole_rows ? ph.cols : ws_;
    ph.size = (ph.rows - 1) * ph.ld + ph.cols;
    ph.offset = out_floats_;
    out_floats_ += g.cg * ph.size;
  }
}

void StridedInputGrad::run(const float* gyp, const float* wp, float* gxp) const {
  const Geom& g = g_;
  // Per phase and group: the taps' offsets in the padded grad_y and the packed weights.
  struct Packed {
    std::vector<int64_t> koff;  // (OG * taps)
    std::vector<float> w;       // (CG, OG * taps) per group, groups after one another
  };
  std::vector<Packed> packed(phases_.size());
  for (size_t f = 0; f < phases_.size(); ++f) {
    const Phase& ph = phases_[f];
    const int64_t taps = static_cast<int64_t>(ph.dy.size() * ph.dx.size()), depth = g.og * taps;
    Packed& pk = packed[f];
    for (int64_t o = 0; o < g.og; ++o)
      for (size_t a = 0; a < ph.dy.size(); ++a)
        for (size_t b = 0; b < ph.dx.size(); ++b)
          pk.koff.push_back(o * plane_ + (top_ + ph.dy[a]) * ws_ + left_ + ph.dx[b]);
    std::vector<int64_t> kernel_taps;  // i * KW + j of each (dy[a], dx[b])
    for (const int64_t dy : ph.dy)
      for (const int64_t dx : ph.dx)
        kernel_taps.push_back((ph.py + g.p.pad_h - g.p.stride_h * dy) * g.kw + ph.px + g.p.pad_w -
                              g.p.stride_w * dx);
    pk.w.resize(static_cast<size_t>(g.groups * g.cg * depth));
    float* dst = pk.w.data();
    for (int64_t gi = 0; gi < g.groups; ++gi)
      for (int64_t c = 0; c < g.cg; ++c)
        for (int64_t o = 0; o < g.og; ++o)
          for (const int64_t t : kernel_taps)
            *dst++ = wp[((gi * g.og + o) * g.cg + c) * g.kh * g.kw + t];
  }
  Conv2dParams pad;  // the padding of grad_y, through the stride-1 phase writer
  pad.pad_h = top_;
  pad.pad_w = left_;
  for_each_image(g, [&](int64_t n) {
    const float* gyn = gyp + n * g.o * g.ohw;                            // (O, OH, OW)
    float* gxn = gxp + n * g.c * g.hw;                                   // (C, H, W)
    float* padded = scratch(static_cast<size_t>(g.o * plane_ + 16), 0);  // (O, rows, ws)
    for (int64_t o = 0; o < g.o; ++o)
      write_phases(gyn + o * g.ohw, g.oh, g.ow, pad, plane_, ws_, padded + o * plane_);
    std::fill(padded + g.o * plane_, padded + g.o * plane_ + 16, 0.0f);
    float* out = scratch(static_cast<size_t>(out_floats_), 2);  // every phase of one group
    for (int64_t gi = 0; gi < g.groups; ++gi) {
      for (size_t f = 0; f < phases_.size(); ++f) {
        const Phase& ph = phases_[f];
        if (ph.size == 0) continue;  // no pixels (an image smaller than the stride)
        const int64_t depth = static_cast<int64_t>(packed[f].koff.size());
        float* of = out + ph.offset;  // (CG, size), rows ld apart
        const float* a = padded + gi * g.og * plane_;
        const float* b = packed[f].w.data() + gi * g.cg * depth;
        if (depth == 0) {
          std::fill(of, of + g.cg * ph.size, 0.0f);
        } else if (ph.whole_rows) {  // rows of whole vectors: no junk columns
          direct_gemm_rows(a, ws_, ph.cols, packed[f].koff.data(), ph.size, b, 1, depth, g.cg,
                           depth, nullptr, of, ph.size);
        } else {
          direct_gemm(a, 0, packed[f].koff.data(), ph.size, b, 1, depth, nullptr, g.cg, depth,
                      nullptr, false, of, ph.size);
        }
      }
      for (int64_t c = 0; c < g.cg; ++c)
        for (int64_t y = 0; y < g.h; ++y) write_row(out, c, y, gxn + (gi * g.cg + c) * g.hw);
    }
  });
}

void StridedInputGrad::write_row(const float* out, int64_t c, int64_t y, float* gx) const {
  const int64_t sw = g_.p.stride_w, py = y % g_.p.stride_h, row = y / g_.p.stride_h;
  float* dst = gx + y * g_.w;
  auto src = [&](const Phase& ph) { return out + ph.offset + c * ph.size + row * ph.ld; };
  if (sw != 2) {
    for (int64_t px = 0; px < sw; ++px) {
      const Phase& ph = phase(py, px);
      const float* s = src(ph);
      for (int64_t x = 0; x < ph.cols; ++x) dst[px + x * sw] = s[x];
    }
    return;
  }
  const Phase& even = phase(py, 0);
  const Phase& odd = phase(py, 1);
  const float* s0 = src(even);
  const float* s1 = odd.size > 0 ? src(odd) : s0;  // read through an empty mask only
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
  for (int64_t x = 0; x < g_.w; x += 32) {
    const int64_t left = std::min<int64_t>(32, g_.w - x);  // pixels of this step
    const auto mask = [](int64_t count) {
      return static_cast<__mmask16>((1u << std::clamp<int64_t>(count, 0, 16)) - 1u);
    };
    const __m512 e = _mm512_maskz_loadu_ps(mask((left + 1) / 2), s0 + x / 2);
    const __m512 o = _mm512_maskz_loadu_ps(mask(left / 2), s1 + x / 2);
    _mm512_mask_storeu_ps(dst + x, mask(left), _mm512_permutex2var_ps(e, lo, o));
    _mm512_mask_storeu_ps(dst + x + 16, mask(left - 16), _mm512_permutex2var_ps(e, hi, o));
  }
}

}  // namespace lnx::cpu
#endif
