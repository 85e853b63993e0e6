// Batch-norm kernels over a contiguous (N, C) or (N, C, H, W) input, statistics per channel.
// Channels run in parallel; each row of a channel is summed in float SIMD lanes and the rows are
// added in double, so large batches do not lose precision. gamma and beta may be undefined here
// (treated as 1 and 0).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "core/batch_norm_affine.h"
#include "core/cpu/cpu_backend.h"
#include "core/cpu/strided.h"

namespace lnx {
namespace {

// The layout every kernel walks: channel c's elements are N runs of `inner` contiguous values,
// run n starting at (n * C + c) * inner.
struct Layout {
  int64_t n, c, inner;
  int64_t count() const { return n * inner; }  // elements per channel
  int64_t start(int64_t batch, int64_t channel) const { return (batch * c + channel) * inner; }
};

Layout layout_of(const Tensor& x) {
  const int64_t inner = x.dim() > 2 ? x.numel() / (x.size(0) * x.size(1)) : 1;
  return {x.size(0), x.size(1), inner};
}

float value_or(const Tensor& t, int64_t i, float fallback) {
  return t.defined() ? t.data<float>()[i] : fallback;
}

// Row sums in 16 independent float lanes (which the compiler turns into one SIMD register:
// a single scalar double accumulator was latency-bound and made batch norm a fifth of a
// ResNet training step); rows are then added in double by the callers.
constexpr int kLanes = 16;

template <typename F>
double lane_sum(int64_t n, F term) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += term(i + j);
  double s = 0.0;
  for (; i < n; ++i) s += term(i);
  for (float a : acc) s += a;
  return s;
}

// The ReLU's gradient g where its output y > 0, else +0, selected with a bit mask. Written as
// `y > 0 ? g : 0`, GCC 12 at -O3 vectorized lane_sum's masked sum wrongly when tuning for some
// Intel cores (-march=native on a host that reports itself as Rocket Lake, and -march=haswell):
// batch_norm_relu's gradients for gamma and beta were off by up to 3x there while every test
// passed on other hosts. The bitwise form is exact (NaN and -0 included) and compiles correctly
// under every tuning tried (tests/test_nn_ops.cpp checks the fused kernel against the composed
// ops on every host).
inline float relu_grad(float g, float y) {
  const uint32_t keep = y > 0.0f ? 0xffffffffu : 0u;
  return std::bit_cast<float>(std::bit_cast<uint32_t>(g) & keep);
}

// y = x * scale + shift, then max(y, 0) when Relu: the fused ReLU saves a pass over y.
template <bool Relu>
void affine_row(const float* in, float* out, int64_t n, float scale, float shift) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = in[i] * scale + shift;
    out[i] = Relu ? std::max(v, 0.0f) : v;
  }
}

template <bool Relu>
void forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                   double momentum, const Tensor& running_mean, const Tensor& running_var,
                   const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd) {
  const Layout L = layout_of(x);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  float* mean_p = save_mean.data<float>();      // (C)
  float* invstd_p = save_invstd.data<float>();  // (C)
  const double m = static_cast<double>(L.count());
#pragma omp parallel for schedule(static) if (x.numel() >= cpu::kParallelGrain)
  for (int64_t c = 0; c < L.c; ++c) {
    double sum = 0.0;
    for (int64_t n = 0; n < L.n; ++n) {
      const float* in = xp + L.start(n, c);
      sum += lane_sum(L.inner, [in](int64_t i) { return in[i]; });
    }
    const double mean = sum / m;
    // Two passes: the variance from centred values does not cancel catastrophically.
    const auto fmean = static_cast<float>(mean);
    double sq = 0.0;
    for (int64_t n = 0; n < L.n; ++n) {
      const float* in = xp + L.start(n, c);
      sq += lane_sum(L.inner, [in, fmean](int64_t i) {
        const float d = in[i] - fmean;
        return d * d;
      });
    }
    const double var = sq / m;  // biased: what normalises the batch
    const double invstd = 1.0 / std::sqrt(var + eps);
    mean_p[c] = static_cast<float>(mean);
    invstd_p[c] = static_cast<float>(invstd);
    if (running_mean.defined()) {
      float* rm = running_mean.data<float>() + c;
      float* rv = running_var.data<float>() + c;
      const double unbiased = L.count() > 1 ? sq / (m - 1.0) : var;
      *rm = static_cast<float>((1.0 - momentum) * *rm + momentum * mean);
      *rv = static_cast<float>((1.0 - momentum) * *rv + momentum * unbiased);
    }
    // y = (x - mean) * invstd * gamma + beta = x * scale + shift
    const double scale = invstd * value_or(gamma, c, 1.0f);
    const float fscale = static_cast<float>(scale);
    const float fshift = static_cast<float>(value_or(beta, c, 0.0f) - mean * scale);
    for (int64_t n = 0; n < L.n; ++n)
      affine_row<Relu>(xp + L.start(n, c), yp + L.start(n, c), L.inner, fscale, fshift);
  }
}

template <bool Relu>
void forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                  const Tensor& running_mean, const Tensor& running_var, double eps,
                  const Tensor& y) {
  const Layout L = layout_of(x);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  const float* rm = running_mean.data<float>();  // (C)
  const float* rv = running_var.data<float>();   // (C)
#pragma omp parallel for schedule(static) if (x.numel() >= cpu::kParallelGrain)
  for (int64_t c = 0; c < L.c; ++c) {
    const ChannelAffine a =
        batch_norm_affine(value_or(gamma, c, 1.0f), value_or(beta, c, 0.0f), rm[c], rv[c], eps);
    for (int64_t n = 0; n < L.n; ++n)
      affine_row<Relu>(xp + L.start(n, c), yp + L.start(n, c), L.inner, a.scale, a.shift);
  }
}

// With Relu, the backward of relu(batch_norm(x)): y is the ReLU's output and dy counts only
// where y > 0, applied on the fly instead of in a separate masking pass.
template <bool Relu>
void backward(const Tensor& grad_y, const Tensor& y, const Tensor& x, const Tensor& gamma,
              const Tensor& save_mean, const Tensor& save_invstd, const Tensor& grad_x,
              const Tensor& grad_gamma, const Tensor& grad_beta) {
  const Layout L = layout_of(x);
  const float* xp = x.data<float>();
  const float* gyp = grad_y.data<float>();
  const float* yp = Relu ? y.data<float>() : nullptr;
  float* gxp = grad_x.defined() ? grad_x.data<float>() : nullptr;
  const float* mean_p = save_mean.data<float>();      // (C)
  const float* invstd_p = save_invstd.data<float>();  // (C)
  const double m = static_cast<double>(L.count());
#pragma omp parallel for schedule(static) if (x.numel() >= cpu::kParallelGrain)
  for (int64_t c = 0; c < L.c; ++c) {
    const double invstd = invstd_p[c];
    const float fmean = mean_p[c];
    // sum_g = sum of dy, sum_gx = sum of dy * xhat with xhat = (x - mean) * invstd.
    double sum_g = 0.0, sum_gx = 0.0;
    for (int64_t n = 0; n < L.n; ++n) {
      const float* in = xp + L.start(n, c);
      const float* g = gyp + L.start(n, c);
      const float* yr = Relu ? yp + L.start(n, c) : nullptr;
      const auto dy = [g, yr](int64_t i) { return Relu ? relu_grad(g[i], yr[i]) : g[i]; };
      sum_g += lane_sum(L.inner, dy);
      sum_gx += lane_sum(L.inner, [&dy, in, fmean](int64_t i) { return dy(i) * (in[i] - fmean); });
    }
    sum_gx *= invstd;
    if (grad_gamma.defined()) grad_gamma.data<float>()[c] = static_cast<float>(sum_gx);
    if (grad_beta.defined()) grad_beta.data<float>()[c] = static_cast<float>(sum_g);
    if (!grad_x.defined()) continue;
    // dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))
    // grad_x = k * (g - mean_g - xhat * mean_gx) with xhat = (x - mean) * invstd, as
    // a * g + b * (x - mean) + c in float so the loop vectorizes.
    const double k = value_or(gamma, c, 1.0f) * invstd;
    const double mean_g = sum_g / m, mean_gx = sum_gx / m;
    const auto a = static_cast<float>(k), b = static_cast<float>(-k * invstd * mean_gx),
               cst = static_cast<float>(-k * mean_g);
    for (int64_t n = 0; n < L.n; ++n) {
      const float* in = xp + L.start(n, c);
      const float* g = gyp + L.start(n, c);
      const float* yr = Relu ? yp + L.start(n, c) : nullptr;
      float* out = gxp + L.start(n, c);
      for (int64_t i = 0; i < L.inner; ++i) {
        const float dy = Relu ? relu_grad(g[i], yr[i]) : g[i];
        out[i] = a * dy + b * (in[i] - fmean) + cst;
      }
    }
  }
}

}  // namespace

void CpuBackend::batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                          double eps, double momentum, const Tensor& running_mean,
                                          const Tensor& running_var, const Tensor& y,
                                          const Tensor& save_mean, const Tensor& save_invstd) {
  forward_train<false>(x, gamma, beta, eps, momentum, running_mean, running_var, y, save_mean,
                       save_invstd);
}

void CpuBackend::batch_norm_relu_forward_train(const Tensor& x, const Tensor& gamma,
                                               const Tensor& beta, double eps, double momentum,
                                               const Tensor& running_mean,
                                               const Tensor& running_var, const Tensor& y,
                                               const Tensor& save_mean, const Tensor& save_invstd) {
  forward_train<true>(x, gamma, beta, eps, momentum, running_mean, running_var, y, save_mean,
                      save_invstd);
}

void CpuBackend::batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                         const Tensor& running_mean, const Tensor& running_var,
                                         double eps, const Tensor& y) {
  forward_eval<false>(x, gamma, beta, running_mean, running_var, eps, y);
}

void CpuBackend::batch_norm_relu_forward_eval(const Tensor& x, const Tensor& gamma,
                                              const Tensor& beta, const Tensor& running_mean,
                                              const Tensor& running_var, double eps,
                                              const Tensor& y) {
  forward_eval<true>(x, gamma, beta, running_mean, running_var, eps, y);
}

void CpuBackend::batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                     const Tensor& save_mean, const Tensor& save_invstd,
                                     const Tensor& grad_x, const Tensor& grad_gamma,
                                     const Tensor& grad_beta) {
  backward<false>(grad_y, Tensor(), x, gamma, save_mean, save_invstd, grad_x, grad_gamma,
                  grad_beta);
}

void CpuBackend::batch_norm_relu_backward(const Tensor& grad_y, const Tensor& y, const Tensor& x,
                                          const Tensor& gamma, const Tensor& save_mean,
                                          const Tensor& save_invstd, const Tensor& grad_x,
                                          const Tensor& grad_gamma, const Tensor& grad_beta) {
  backward<true>(grad_y, y, x, gamma, save_mean, save_invstd, grad_x, grad_gamma, grad_beta);
}

}  // namespace lnx
