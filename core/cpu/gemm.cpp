// GEMM through Eigen. Tensors map onto Eigen matrices without copying: a row-major view
// (strides (s, 1)) maps as RowMajor, a transposed view (strides (1, s)) as ColMajor.
#include <Eigen/Core>

#include "core/cpu/cpu_backend.h"

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

}  // namespace

void CpuBackend::gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b,
                      float beta, const Tensor& c) {
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
