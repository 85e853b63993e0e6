// LilNetX's fused rate under the factorized prior on the GPU; the math and its sign trick are
// core/cpu/factorized_rate.cpp's (see compress/factorized_prior.h, method.md section 2).
//
// Block (b, c) takes a fixed slice of the rows of channel c; each thread evaluates and
// differentiates both logit chains of its elements in registers and keeps running sums of
// the 11 parameter gradients and the bits. Those are reduced over the block in shared memory
// into partial[c][b], then a second kernel sums the partials of each channel in block order.
// The split depends only on (M, C), and no atomics are used: results are deterministic.
#include <cmath>

#include "cuda/check.h"
#include "cuda/launch.cuh"
#include "cuda/nn_kernels.h"

namespace lnx::cuda {
namespace {

constexpr int kParams = 11;         // h1..h4, b1..b4, a1..a3
constexpr int kSums = kParams + 1;  // the parameter gradients, then the bits
constexpr int kRateThreads = 128;
constexpr float kLikelihoodFloor = 1e-10f;
constexpr float kMaxBits = 50.0f;
constexpr float kInvLn2 = 1.4426950408889634f;

struct Consts {
  float sp_h[4], sig_h[4], b[4];  // softplus(h_k), sigmoid(h_k) = softplus'(h_k), b_k
  float ta[3], dta[3];            // tanh(a_k), 1 - tanh(a_k)^2
};

struct Chain {
  float z_in[4];  // input of layer k (z_0 = t)
  float th[3];    // tanh(y_k)
  float logit;
};

__device__ inline float softplus(float x) {
  return log1pf(expf(-fabsf(x))) + fmaxf(x, 0.0f);
}

__device__ Consts load_consts(const float* q) {
  Consts c;
  for (int k = 0; k < 4; ++k) {
    c.sp_h[k] = softplus(q[k]);
    c.sig_h[k] = 1.0f / (1.0f + expf(-q[k]));
    c.b[k] = q[4 + k];
  }
  for (int k = 0; k < 3; ++k) {
    c.ta[k] = tanhf(q[8 + k]);
    c.dta[k] = 1.0f - c.ta[k] * c.ta[k];
  }
  return c;
}

__device__ inline void forward_chain(const Consts& c, float t, Chain& r) {
  float z = t;
  for (int k = 0; k < 3; ++k) {
    r.z_in[k] = z;
    const float y = z * c.sp_h[k] + c.b[k];
    r.th[k] = tanhf(y);
    z = y + r.th[k] * c.ta[k];
  }
  r.z_in[3] = z;
  r.logit = z * c.sp_h[3] + c.b[3];
}

// Adds d(bits)/d(params) of one chain, whose logit has gradient g, to acc; returns d/dt.
__device__ inline float backward_chain(const Consts& c, const Chain& r, float g, double* acc) {
  acc[3] += g * r.z_in[3] * c.sig_h[3];
  acc[7] += g;
  float gz = g * c.sp_h[3];
  for (int k = 2; k >= 0; --k) {
    acc[8 + k] += gz * r.th[k] * c.dta[k];
    const float gy = gz * (1.0f + (1.0f - r.th[k] * r.th[k]) * c.ta[k]);
    acc[k] += gy * r.z_in[k] * c.sig_h[k];
    acc[4 + k] += gy;
    gz = gy * c.sp_h[k];
  }
  return gz;
}

template <bool kGrad>
__global__ void rate_kernel(int64_t m, int64_t channels, const float* values, const float* params,
                            float* bits_out, float* grad_values, double* partial) {
  __shared__ double buf[kSums][kRateThreads];
  const int64_t ch = blockIdx.y, blocks = gridDim.x;
  const Consts c = load_consts(params + ch * kParams);
  double acc[kSums] = {};
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < m;
       i += blocks * blockDim.x) {
    const int64_t at = i * channels + ch;
    const float v = values[at];
    Chain up, lo;
    forward_chain(c, v + 0.5f, up);
    forward_chain(c, v - 0.5f, lo);
    // The sign trick: both sigmoids on the side where they do not saturate to 1 and cancel.
    const float s = up.logit + lo.logit > 0.0f ? -1.0f : 1.0f;
    const float su = 1.0f / (1.0f + expf(-s * up.logit));
    const float sl = 1.0f / (1.0f + expf(-s * lo.logit));
    const float diff = su - sl;
    const float p = fabsf(diff) + kLikelihoodFloor;
    const float raw = -logf(p) * kInvLn2;
    const float bits = fmaxf(fminf(raw, kMaxBits), 0.0f);
    acc[kParams] += bits;
    if (bits_out) bits_out[at] = bits;
    if constexpr (kGrad) {
      // Zero where clamped (the clamp's gradient).
      const float live = raw <= kMaxBits && raw >= 0.0f ? 1.0f : 0.0f;
      const float dbits_dp = -kInvLn2 / p * live;
      const float sgn = diff >= 0.0f ? 1.0f : -1.0f;
      const float g_up = dbits_dp * sgn * s * su * (1.0f - su);
      const float g_lo = -dbits_dp * sgn * s * sl * (1.0f - sl);
      grad_values[at] = backward_chain(c, up, g_up, acc) + backward_chain(c, lo, g_lo, acc);
    }
  }
  for (int k = 0; k < kSums; ++k) buf[k][threadIdx.x] = acc[k];
  __syncthreads();
  for (unsigned width = blockDim.x / 2; width > 0; width /= 2) {
    if (threadIdx.x < width)
      for (int k = 0; k < kSums; ++k) buf[k][threadIdx.x] += buf[k][threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x < kSums)
    partial[(ch * blocks + blockIdx.x) * kSums + threadIdx.x] = buf[threadIdx.x][0];
}

// Block c, thread k < kSums: sums partial[c][*][k] in block order.
__global__ void rate_finish_kernel(int64_t blocks, const double* partial, float* grad_params,
                                   double* channel_bits) {
  const int64_t ch = blockIdx.x;
  const int k = threadIdx.x;
  if (k >= kSums) return;
  double s = 0.0;
  for (int64_t b = 0; b < blocks; ++b) s += partial[(ch * blocks + b) * kSums + k];
  if (k == kParams) {
    channel_bits[ch] = s;
  } else if (grad_params) {
    grad_params[ch * kParams + k] = static_cast<float>(s);
  }
}

// Row blocks per channel: enough blocks in all to fill the GPU, a function of (M, C) only.
int64_t row_blocks(int64_t m, int64_t c) {
  const int64_t by_rows = (m + kRateThreads - 1) / kRateThreads;
  const int64_t by_grid = c > 0 && 1024 / c > 1 ? 1024 / c : 1;
  const int64_t b = by_rows < by_grid ? by_rows : by_grid;
  return b < 1 ? 1 : b;
}

}  // namespace

int64_t factorized_rate_scratch_doubles(int64_t m, int64_t c) {
  return c * row_blocks(m, c) * kSums;
}

void launch_factorized_rate(int64_t m, int64_t c, const float* values, const float* params,
                            float* bits_out, float* grad_values, float* grad_params,
                            double* partial, double* channel_bits, cudaStream_t stream) {
  if (c == 0) return;
  const int64_t blocks = row_blocks(m, c);
  const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(c));
  if (grad_values) {
    rate_kernel<true>
        <<<grid, kRateThreads, 0, stream>>>(m, c, values, params, bits_out, grad_values, partial);
  } else {
    rate_kernel<false>
        <<<grid, kRateThreads, 0, stream>>>(m, c, values, params, bits_out, nullptr, partial);
  }
  LNX_CUDA_CHECK(cudaGetLastError(), "factorized_rate");
  rate_finish_kernel<<<static_cast<unsigned>(c), 32, 0, stream>>>(blocks, partial, grad_params,
                                                                  channel_bits);
  LNX_CUDA_CHECK(cudaGetLastError(), "factorized_rate");
}

}  // namespace lnx::cuda
