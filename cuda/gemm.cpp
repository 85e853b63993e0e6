// GEMM through cuBLAS. cuBLAS is column-major and our tensors are row-major, so for
// C = op(A) op(B) we ask it for C^T = op(B)^T op(A)^T: a row-major matrix with row stride s is,
// read column-major with leading dimension s, its own transpose. Views whose unit stride is
// along the rows (a transposed tensor) are read as column-major directly by flipping the op;
// anything else is made contiguous first.
#include <algorithm>
#include <climits>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/cuda_backend.h"
#include "cuda/device_guard.h"

namespace lnx::cuda {
namespace {

// How cuBLAS should read op(t)^T, t an (r, c) matrix.
struct GemmArg {
  Tensor t;  // t itself, or a contiguous copy of it
  cublasOperation_t op;
  int64_t ld;
};

GemmArg gemm_arg(const Tensor& t, bool trans) {
  const int64_t r = t.shape()[0], c = t.shape()[1];
  const int64_t s0 = t.strides()[0], s1 = t.strides()[1];
  // Row-major storage: cuBLAS sees t^T (c, r) with leading dimension s0, which must be >= c;
  // it is never stepped when r == 1.
  if ((s1 == 1 || c <= 1) && (r <= 1 || s0 >= std::max<int64_t>(c, 1)))
    return {t, trans ? CUBLAS_OP_T : CUBLAS_OP_N, r <= 1 ? std::max<int64_t>(c, 1) : s0};
  // Column-major storage (e.g. a transposed view): cuBLAS sees t (r, c) with leading dimension
  // s1 >= r.
  if ((s0 == 1 || r <= 1) && (c <= 1 || s1 >= std::max<int64_t>(r, 1)))
    return {t, trans ? CUBLAS_OP_N : CUBLAS_OP_T, c <= 1 ? std::max<int64_t>(r, 1) : s1};
  // Broadcast (stride 0) or doubly strided: a contiguous copy is row-major.
  return {t.contiguous(), trans ? CUBLAS_OP_T : CUBLAS_OP_N, std::max<int64_t>(c, 1)};
}

void check_int(int64_t v, const char* what, const Tensor& a, const Tensor& b) {
  LNX_CHECK(v <= INT_MAX, "gemm: ", what, " = ", v, " exceeds cuBLAS's 32-bit limit (a ",
            to_string(a.shape()), ", b ", to_string(b.shape()), ")");
}

}  // namespace

void CudaBackend::gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b,
                       float beta, const Tensor& c) {
  const int d = device_of(c, "gemm");
  const DeviceGuard guard(d);
  const int64_t m = c.shape()[0], n = c.shape()[1];
  const int64_t k = trans_a ? a.shape()[0] : a.shape()[1];
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: C = beta * C, and no NaN from 0 * C when beta is 0
    if (beta == 0.0f) {
      fill(c, 0.0);
    } else {
      binary_scalar(BinaryOp::Mul, c, beta, false, c);
    }
    return;
  }
  // C must be row-major with a unit column stride; otherwise compute into a copy.
  const bool c_direct = (c.strides()[1] == 1 || n == 1) && (m == 1 || c.strides()[0] >= n);
  if (!c_direct) {
    const Tensor tmp = c.clone();
    gemm(trans_a, trans_b, alpha, a, b, beta, tmp);
    copy(tmp, c);
    return;
  }
  const int64_t ldc = m == 1 ? n : c.strides()[0];
  const GemmArg ga = gemm_arg(a, trans_a), gb = gemm_arg(b, trans_b);
  for (const auto& [v, what] :
       {std::pair{m, "m"}, std::pair{n, "n"}, std::pair{k, "k"}, std::pair{ga.ld, "lda"},
        std::pair{gb.ld, "ldb"}, std::pair{ldc, "ldc"}})
    check_int(v, what, a, b);
  LNX_CUDA_CHECK(cublasSgemm(cublas(d), gb.op, ga.op, static_cast<int>(n), static_cast<int>(m),
                             static_cast<int>(k), &alpha, gb.t.data<float>(),
                             static_cast<int>(gb.ld), ga.t.data<float>(), static_cast<int>(ga.ld),
                             &beta, c.data<float>(), static_cast<int>(ldc)),
                 "gemm");
}

}  // namespace lnx::cuda
