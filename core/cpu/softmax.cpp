// Log-softmax and negative log-likelihood over the last axis of a contiguous (N, C) tensor.
// Rows are independent and run in parallel.
#include <algorithm>
#include <cmath>

#include "core/cpu/cpu_backend.h"
#include "core/cpu/strided.h"

namespace lnx {

void CpuBackend::log_softmax_forward(const Tensor& x, const Tensor& y) {
  const int64_t rows = x.size(0), cols = x.size(1);
  const float* xp = x.data<float>();  // (N, C)
  float* yp = y.data<float>();        // (N, C)
#pragma omp parallel for schedule(static) if (rows * cols >= cpu::kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = xp + r * cols;
    float* out = yp + r * cols;
    // Subtracting the row maximum keeps exp() from overflowing.
    const float mx = *std::max_element(in, in + cols);
    double s = 0.0;
    for (int64_t i = 0; i < cols; ++i) s += std::exp(static_cast<double>(in[i] - mx));
    // (x - max) - log(s) rather than x - (max + log(s)): no round-off at the scale of max.
    const float log_s = static_cast<float>(std::log(s));
    for (int64_t i = 0; i < cols; ++i) out[i] = (in[i] - mx) - log_s;
  }
}

void CpuBackend::log_softmax_backward(const Tensor& grad_y, const Tensor& y, const Tensor& grad_x) {
  const int64_t rows = y.size(0), cols = y.size(1);
  const float* gyp = grad_y.data<float>();  // (N, C)
  const float* yp = y.data<float>();        // (N, C)
  float* gxp = grad_x.data<float>();        // (N, C)
#pragma omp parallel for schedule(static) if (rows * cols >= cpu::kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = gyp + r * cols;
    const float* out = yp + r * cols;
    float* gx = gxp + r * cols;
    // dx = dy - softmax * sum(dy), with softmax = exp(y).
    double s = 0.0;
    for (int64_t i = 0; i < cols; ++i) s += g[i];
    const float fs = static_cast<float>(s);
    for (int64_t i = 0; i < cols; ++i) gx[i] = g[i] - std::exp(out[i]) * fs;
  }
}

void CpuBackend::nll_loss_forward(const Tensor& logp, const Tensor& labels, const Tensor& out) {
  const int64_t rows = logp.size(0), cols = logp.size(1);
  const float* lp = logp.data<float>();         // (N, C)
  const int64_t* lab = labels.data<int64_t>();  // (N)
  double s = 0.0;
  for (int64_t r = 0; r < rows; ++r) s += lp[r * cols + lab[r]];
  out.data<float>()[0] = rows > 0 ? static_cast<float>(-s / static_cast<double>(rows)) : 0.0f;
}

void CpuBackend::nll_loss_backward(const Tensor& grad_out, const Tensor& labels,
                                   const Tensor& grad_logp) {
  const int64_t rows = grad_logp.size(0), cols = grad_logp.size(1);
  const int64_t* lab = labels.data<int64_t>();  // (N)
  float* g = grad_logp.data<float>();           // (N, C)
  std::fill(g, g + rows * cols, 0.0f);
  if (rows == 0) return;
  const float v = -grad_out.data<float>()[0] / static_cast<float>(rows);
  for (int64_t r = 0; r < rows; ++r) g[r * cols + lab[r]] = v;
}

}  // namespace lnx
