// GEMM through Eigen. Tensors map onto Eigen matrices without copying: a row-major view
// (strides (s, 1)) maps as RowMajor, a transposed view (strides (1, s)) as ColMajor. Products
// with a small right matrix (LilNetX's decoders: every 3x3 slice of millions times a 9x9 matrix)
// take a plain loop over rows instead: Eigen packs the tall operand for those and runs 2-3x
// slower than memory allows. (The decoder's gradient, a 9x9 sum over those rows, Eigen already
// runs near the memory's speed.)
#include <Eigen/Core>
#include <array>

#include "core/cpu/cpu_backend.h"
#include "core/cpu/strided.h"

namespace lnx {
namespace {

using Stride = Eigen::OuterStride<>;
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ColMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
using RowMap = Eigen::Map<const RowMat, 0, Stride>;
using ColMap = Eigen::Map<const ColMat, 0, Stride>;
using OutMap = Eigen::Map<RowMat, 0, Stride>;

template <typename A, typename B>
void product(const A& a, const B& b, float alpha, float beta, OutMap& c) {
  if (beta == 0.0f) {
    c.noalias() = alpha * (a * b);
  } else {
    if (beta != 1.0f) c *= beta;
    c.noalias() += alpha * (a * b);
  }
}

// Calls f with an Eigen map of the 2-D tensor t (made contiguous when neither layout fits).
template <typename F>
void with_matrix(const Tensor& t, F&& f) {
  const int64_t r = t.shape()[0], c = t.shape()[1];
  const float* p = t.data<float>();
  if (t.strides()[1] == 1 || c == 1) {
    f(RowMap(p, r, c, Stride(t.strides()[0])));
  } else if (t.strides()[0] == 1 || r == 1) {
    f(ColMap(p, r, c, Stride(t.strides()[1])));
  } else {
    const Tensor tc = t.contiguous();
    f(RowMap(tc.data<float>(), r, c, Stride(c)));
  }
}

// op(t) of a 2-D tensor: its shape and strides after the optional transpose.
struct Operand {
  const float* p;
  int64_t rows, cols, row_st, col_st;
  float at(int64_t r, int64_t c) const { return p[r * row_st + c * col_st]; }
};
Operand operand(const Tensor& t, bool trans) {
  const int64_t r = t.shape()[0], c = t.shape()[1], s0 = t.strides()[0], s1 = t.strides()[1];
  return trans ? Operand{t.data<float>(), c, r, s1, s0} : Operand{t.data<float>(), r, c, s0, s1};
}

constexpr int64_t kSmall = 16;       // the small side's limit
constexpr int64_t kTallRows = 1024;  // below this Eigen is as fast

// Rows [0, m) of C = A B' + beta C, B' (K, N) in registers. K and N are compile-time for the
// decoders' shapes, or 0 for the sizes at run time (then the compiler calls memcpy per row).
template <int64_t KC, int64_t NC>
void small_right_rows(const Operand& a, const float* bm, int64_t k_rt, int64_t n_rt, float beta,
                      float* cp, int64_t cst) {
  const int64_t k = KC ? KC : k_rt, n = NC ? NC : n_rt, m = a.rows;
#pragma omp parallel for schedule(static) if (m * k >= cpu::kParallelGrain)
  for (int64_t r = 0; r < m; ++r) {
    const float* ar = a.p + r * a.row_st;
    float acc[kSmall] = {};
    for (int64_t i = 0; i < k; ++i) {
      const float av = ar[i];
      for (int64_t j = 0; j < n; ++j) acc[j] += av * bm[i * n + j];
    }
    float* cr = cp + r * cst;
    if (beta == 0.0f) {
      for (int64_t j = 0; j < n; ++j) cr[j] = acc[j];
    } else {
      for (int64_t j = 0; j < n; ++j) cr[j] = beta * cr[j] + acc[j];
    }
  }
}

// C (M, N) = alpha A (M, K) B (K, N) + beta C with K, N <= kSmall and A's rows contiguous: each
// row of C from one row of A and B held in registers.
bool small_right_product(const Operand& a, const Operand& b, float alpha, float beta,
                         const Tensor& c) {
  const int64_t m = a.rows, k = a.cols, n = b.cols;
  if (k > kSmall || n > kSmall || m < kTallRows || a.col_st != 1 || c.strides()[1] != 1)
    return false;
  std::array<float, kSmall * kSmall> bm{};  // (K, N), alpha folded in
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j) bm[i * n + j] = alpha * b.at(i, j);
  float* cp = c.data<float>();
  const int64_t cst = c.strides()[0];
  if (k == 9 && n == 9) {  // 3x3 decoders
    small_right_rows<9, 9>(a, bm.data(), k, n, beta, cp, cst);
  } else if (k == 1 && n == 1) {  // scalar decoders
    small_right_rows<1, 1>(a, bm.data(), k, n, beta, cp, cst);
  } else {
    small_right_rows<0, 0>(a, bm.data(), k, n, beta, cp, cst);
  }
  return true;
}

}  // namespace

void CpuBackend::gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b,
                      float beta, const Tensor& c) {
  const Operand oa = operand(a, trans_a), ob = operand(b, trans_b);
  if (small_right_product(oa, ob, alpha, beta, c)) return;
  OutMap cm(c.data<float>(), c.shape()[0], c.shape()[1], Stride(c.strides()[0]));
  with_matrix(a, [&](const auto& am) {
    with_matrix(b, [&](const auto& bm) {
      if (!trans_a && !trans_b) product(am, bm, alpha, beta, cm);
      if (!trans_a && trans_b) product(am, bm.transpose(), alpha, beta, cm);
      if (trans_a && !trans_b) product(am.transpose(), bm, alpha, beta, cm);
      if (trans_a && trans_b) product(am.transpose(), bm.transpose(), alpha, beta, cm);
    });
  });
}

}  // namespace lnx
