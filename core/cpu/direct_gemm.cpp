#include "core/cpu/direct_gemm.h"

#if defined(__AVX512F__)
#include <immintrin.h>

#include <algorithm>

namespace lnx::cpu {
namespace {

// One kernel call: a block of v and j (see direct_gemm in the header for the addressing).
struct MicroArgs {
  const float* a = nullptr;  // a[k][v] at a + k * lda + v, or at a + koff[k] + v when koff is set
  int64_t lda = 0;
  const int64_t* koff = nullptr;
  const float* b = nullptr;  // b[k][j] at b + k * ldb + j * bstride, or at b + k * ldb + joff[j]
  int64_t ldb = 0, bstride = 0;
  const int64_t* joff = nullptr;
  int64_t depth = 0;
  float* y = nullptr;  // y[j][v] at y + j * ldy + v
  int64_t ldy = 0;
  const float* bias = nullptr;  // per j; null for zero
  bool accumulate = false;      // add to y instead of overwriting it (bias ignored)
  bool row_pairs = false;       // with koff: v counts pixels of 8-wide rows lda apart (see Addr)
  __mmask16 tail = 0xFFFF;      // valid lanes of the last vector
  // With koff: vector i of the block reads a + koff[k] + voff[i] (Addr::RowVectors).
  const int64_t* voff = nullptr;
  Segments seg = {};
};

// How the kernel addresses its operands: rows of a and columns of b at fixed strides, rows of
// a at per-k offsets (koff), or columns of b at per-j offsets (joff). Separate instantiations
// keep the strided case free of the offset tables' extra registers. RowPairs is RowOffsets for
// 8-pixel-wide outputs: each vector is assembled from two image rows lda apart, so no lanes
// are spent on the padding columns between rows (a third of them at 8x8). RowVectors is
// RowOffsets for outputs whose rows are whole vectors (16 or 32 pixels wide): each vector
// starts where its row does, so no lanes compute padding columns and y is written in place.
enum class Addr { Strided, RowOffsets, ColOffsets, RowPairs, RowVectors };

template <int MR, int NR, bool Tail, Addr Mode>
void micro_kernel(const MicroArgs& m) {
  __m512 acc[MR][NR];
  for (int j = 0; j < NR; ++j)
    for (int i = 0; i < MR; ++i) {
      const float* yv = m.y + j * m.ldy + 16 * i;
      if (m.accumulate) {
        acc[i][j] = (Tail && i == MR - 1) ? _mm512_maskz_loadu_ps(m.tail, yv) : _mm512_loadu_ps(yv);
      } else {
        acc[i][j] = m.bias ? _mm512_set1_ps(m.bias[j]) : _mm512_setzero_ps();
      }
    }
  for (int64_t s = 0; s < m.seg.count; ++s) {
    const float* const a0 = m.a + s * m.seg.a_step;
    const float* a = a0;
    const float* b = m.b + s * m.seg.b_step;
    const float* bj_row[NR];
    if constexpr (Mode == Addr::ColOffsets)
      for (int j = 0; j < NR; ++j) bj_row[j] = b + m.joff[j];
    for (int64_t k = 0; k < m.depth; ++k, a += m.lda, b += m.ldb) {
      if constexpr (Mode == Addr::RowOffsets || Mode == Addr::RowPairs || Mode == Addr::RowVectors)
        a = a0 + m.koff[k];
      __m512 av[MR];
      if constexpr (Mode == Addr::RowVectors) {
        for (int i = 0; i < MR; ++i) av[i] = _mm512_loadu_ps(a + m.voff[i]);
      } else if constexpr (Mode == Addr::RowPairs) {
        for (int i = 0; i < MR; ++i) {
          const float* lo = a + 2 * i * m.lda;
          const __m512 low = _mm512_castps256_ps512(_mm256_loadu_ps(lo));
          if (Tail && i == MR - 1) {  // a last single row: the upper lanes stay unused
            av[i] = low;
          } else {
            const __m256d high = _mm256_castps_pd(_mm256_loadu_ps(lo + m.lda));
            av[i] = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(low), high, 1));
          }
        }
      } else {
        for (int i = 0; i < MR; ++i)
          // With row offsets, a is a phase image with slack at its end (phase_images): lanes past
          // the tail read zeros or neighbouring pixels and only feed output lanes never stored.
          av[i] = (Tail && i == MR - 1 && Mode != Addr::RowOffsets)
                      ? _mm512_maskz_loadu_ps(m.tail, a + 16 * i)
                      : _mm512_loadu_ps(a + 16 * i);
      }
      for (int j = 0; j < NR; ++j) {
        const __m512 bj =
            _mm512_set1_ps(Mode == Addr::ColOffsets ? bj_row[j][k * m.ldb] : b[j * m.bstride]);
        for (int i = 0; i < MR; ++i) acc[i][j] = _mm512_fmadd_ps(av[i], bj, acc[i][j]);
      }
    }
  }
  for (int j = 0; j < NR; ++j)
    for (int i = 0; i < MR; ++i) {
      float* dst = m.y + j * m.ldy + 16 * i;
      if (Tail && i == MR - 1) {
        _mm512_mask_storeu_ps(dst, m.tail, acc[i][j]);
      } else {
        _mm512_storeu_ps(dst, acc[i][j]);
      }
    }
}

template <int MR, bool Tail, Addr Mode>
void micro_nr(int nr, const MicroArgs& m) {
  static_assert(MR <= 4);
  switch (nr) {
    case 1:
      return micro_kernel<MR, 1, Tail, Mode>(m);
    case 2:
      return micro_kernel<MR, 2, Tail, Mode>(m);
    case 3:
      return micro_kernel<MR, 3, Tail, Mode>(m);
    case 4:
      return micro_kernel<MR, 4, Tail, Mode>(m);
    case 5:
      return micro_kernel<MR, 5, Tail, Mode>(m);
    default:
      break;
  }
  if constexpr (MR == 4) {  // 4 x 6 accumulators: 32 registers hold no more
    return micro_kernel<MR, 6, Tail, Mode>(m);
  } else {
    if (nr == 6) return micro_kernel<MR, 6, Tail, Mode>(m);
    if (nr == 7) return micro_kernel<MR, 7, Tail, Mode>(m);
    return micro_kernel<MR, 8, Tail, Mode>(m);
  }
}

template <Addr Mode>
void micro_mr(int mr, int nr, bool tail, const MicroArgs& m) {
  if (tail) {
    if (mr == 1) return micro_nr<1, true, Mode>(nr, m);
    if (mr == 2) return micro_nr<2, true, Mode>(nr, m);
    if (mr == 4) return micro_nr<4, true, Mode>(nr, m);
    return micro_nr<3, true, Mode>(nr, m);
  }
  if (mr == 1) return micro_nr<1, false, Mode>(nr, m);
  if (mr == 2) return micro_nr<2, false, Mode>(nr, m);
  if (mr == 4) return micro_nr<4, false, Mode>(nr, m);
  return micro_nr<3, false, Mode>(nr, m);
}

void micro(int mr, int nr, bool tail, const MicroArgs& m) {
  if (m.koff && m.voff) return micro_mr<Addr::RowVectors>(mr, nr, tail, m);
  if (m.koff && m.row_pairs) return micro_mr<Addr::RowPairs>(mr, nr, tail, m);
  if (m.koff) return micro_mr<Addr::RowOffsets>(mr, nr, tail, m);
  if (m.joff) return micro_mr<Addr::ColOffsets>(mr, nr, tail, m);
  micro_mr<Addr::Strided>(mr, nr, tail, m);
}

// Runs the kernel over v < nv and j < nj block by block (v_block). m holds what every block
// shares, with a, b (or joff), y and bias where v = j = 0; at_v(v0, m) moves a to block v0 (and
// may set voff, which must outlive the call).
template <typename AtV>
void run_blocks(const MicroArgs& m, int64_t nv, int64_t nj, AtV&& at_v) {
  for (int64_t v0 = 0; v0 < nv;) {
    const VBlock blk = v_block((nv - v0 + 15) / 16);
    const int64_t rem = std::min<int64_t>(16 * blk.vectors, nv - v0);
    const int last = static_cast<int>(rem - 16 * (blk.vectors - 1));  // lanes of the last vector
    MicroArgs mv = m;
    at_v(v0, mv);
    mv.y = m.y + v0;
    mv.tail = static_cast<__mmask16>((1u << last) - 1u);
    for (int64_t j0 = 0; j0 < nj; j0 += blk.j_step) {
      MicroArgs mj = mv;
      if (mv.joff) {
        mj.joff = mv.joff + j0;
      } else {
        mj.b = mv.b + j0 * mv.bstride;
      }
      mj.y = mv.y + j0 * mv.ldy;
      if (mv.bias) mj.bias = mv.bias + j0;
      micro(blk.vectors, static_cast<int>(std::min<int64_t>(blk.j_step, nj - j0)), last != 16, mj);
    }
    v0 += rem;
  }
}

}  // namespace

VBlock v_block(int64_t vectors_left) {
  if (vectors_left == 4) return {4, 6};
  return {static_cast<int>(std::min<int64_t>(3, vectors_left)), 8};
}

void direct_gemm(const float* a, int64_t lda, const int64_t* koff, int64_t nv, const float* b,
                 int64_t ldb, int64_t bstride, const int64_t* joff, int64_t nj, int64_t depth,
                 const float* bias, bool accumulate, float* y, int64_t ldy, Segments seg) {
  // Fields in MicroArgs order, named as the parameters they come from.
  MicroArgs m{a, lda, koff, b, ldb, bstride, joff, depth, y, ldy, bias, accumulate};
  m.seg = seg;
  run_blocks(m, nv, nj, [&](int64_t v0, MicroArgs& mv) { mv.a = a + v0; });
}

bool rows_fill_vectors(int64_t ow) {
  return ow == 8 || ow % 16 == 0;
}

void direct_gemm_rows(const float* a, int64_t ws, int64_t ow, const int64_t* koff, int64_t nv,
                      const float* b, int64_t ldb, int64_t bstride, int64_t nj, int64_t depth,
                      const float* bias, float* y, int64_t ldy) {
  const bool pairs = ow == 8;
  // With pairs a block's vectors start at its first row and lda steps to the second row of a
  // pair; otherwise vector i starts at voff[i] (a block's rem is a multiple of 8 or 16).
  const MicroArgs m{a, ws, koff, b, ldb, bstride, nullptr, depth, y, ldy, bias, false, pairs};
  int64_t voff[4] = {};
  run_blocks(m, nv, nj, [&](int64_t v0, MicroArgs& mv) {
    if (pairs) {
      mv.a = a + v0 / 8 * ws;
      return;
    }
    for (int i = 0; i < 4; ++i) {
      const int64_t v = v0 + 16 * i;
      voff[i] = v / ow * ws + v % ow;
    }
    mv.voff = voff;
  });
}

}  // namespace lnx::cpu
#endif
