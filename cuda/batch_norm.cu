// Batch norm with one block per channel: the channel's N * inner elements are strided over the
// block's threads and reduced in shared memory. Sums are accumulated in double, as on the CPU
// (core/cpu/batch_norm.cpp), so large batches agree to float precision; the fixed reduction
// tree makes every result deterministic.
#include "cuda/check.h"
#include "cuda/launch.cuh"
#include "cuda/nn_kernels.h"

namespace lnx::cuda {
namespace {

// Element j of channel c, j in [0, n * inner).
__device__ inline int64_t offset(const BnShape& s, int64_t c, int64_t j) {
  return ((j / s.inner) * s.c + c) * s.inner + j % s.inner;
}

// Sum of v over the block; every thread gets the result. `buf` has blockDim.x doubles.
__device__ double block_sum(double v, double* buf) {
  buf[threadIdx.x] = v;
  __syncthreads();
  for (unsigned width = blockDim.x / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) buf[threadIdx.x] += buf[threadIdx.x + width];
    __syncthreads();
  }
  const double r = buf[0];
  __syncthreads();  // buf is reused by the next call
  return r;
}

__global__ void bn_forward_train_kernel(BnShape s, const float* x, const float* gamma,
                                        const float* beta, double eps, double momentum,
                                        float* running_mean, float* running_var, float* y,
                                        float* save_mean, float* save_invstd) {
  __shared__ double buf[kThreads];
  const int64_t c = blockIdx.x, count = s.n * s.inner;
  const double m = static_cast<double>(count);
  double sum = 0.0;
  for (int64_t j = threadIdx.x; j < count; j += blockDim.x) sum += x[offset(s, c, j)];
  const double mean = block_sum(sum, buf) / m;
  // Two passes: centred values do not cancel catastrophically.
  double sq = 0.0;
  for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
    const double d = x[offset(s, c, j)] - mean;
    sq += d * d;
  }
  sq = block_sum(sq, buf);
  const double var = sq / m;  // biased: what normalises the batch
  const double invstd = 1.0 / sqrt(var + eps);
  if (threadIdx.x == 0) {
    save_mean[c] = static_cast<float>(mean);
    save_invstd[c] = static_cast<float>(invstd);
    if (running_mean) {
      const double unbiased = count > 1 ? sq / (m - 1.0) : var;
      running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mean);
      running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + momentum * unbiased);
    }
  }
  const double scale = invstd * (gamma ? gamma[c] : 1.0f);
  const float fscale = static_cast<float>(scale);
  const float fshift = static_cast<float>((beta ? beta[c] : 0.0f) - mean * scale);
  for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
    const int64_t o = offset(s, c, j);
    y[o] = x[o] * fscale + fshift;
  }
}

// The arithmetic of core/batch_norm_affine.h (the .lnx reader's folded batch norm relies on it).
__global__ void bn_forward_eval_kernel(BnShape s, const float* x, const float* gamma,
                                       const float* beta, const float* running_mean,
                                       const float* running_var, double eps, float* y) {
  const int64_t total = s.n * s.c * s.inner;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t c = (i / s.inner) % s.c;
    const double scale =
        (gamma ? gamma[c] : 1.0f) / sqrt(static_cast<double>(running_var[c]) + eps);
    const float fscale = static_cast<float>(scale);
    const float fshift = static_cast<float>((beta ? beta[c] : 0.0f) - running_mean[c] * scale);
    y[i] = x[i] * fscale + fshift;
  }
}

__global__ void bn_backward_kernel(BnShape s, const float* grad_y, const float* x,
                                   const float* gamma, const float* save_mean,
                                   const float* save_invstd, float* grad_x, float* grad_gamma,
                                   float* grad_beta) {
  __shared__ double buf[kThreads];
  const int64_t c = blockIdx.x, count = s.n * s.inner;
  const double m = static_cast<double>(count);
  const double mean = save_mean[c], invstd = save_invstd[c];
  double sg = 0.0, sgx = 0.0;
  for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
    const int64_t o = offset(s, c, j);
    sg += grad_y[o];
    sgx += grad_y[o] * (x[o] - mean);
  }
  const double sum_g = block_sum(sg, buf);
  const double sum_gx = block_sum(sgx, buf) * invstd;
  if (threadIdx.x == 0) {
    if (grad_gamma) grad_gamma[c] = static_cast<float>(sum_gx);
    if (grad_beta) grad_beta[c] = static_cast<float>(sum_g);
  }
  if (!grad_x) return;
  // dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))
  const double k = (gamma ? gamma[c] : 1.0f) * invstd;
  const double mean_g = sum_g / m, mean_gx = sum_gx / m;
  for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
    const int64_t o = offset(s, c, j);
    const double xhat = (x[o] - mean) * invstd;
    grad_x[o] = static_cast<float>(k * (grad_y[o] - mean_g - xhat * mean_gx));
  }
}

}  // namespace

void launch_bn_forward_train(const BnShape& s, const float* x, const float* gamma,
                             const float* beta, double eps, double momentum, float* running_mean,
                             float* running_var, float* y, float* save_mean, float* save_invstd,
                             cudaStream_t stream) {
  if (s.c == 0) return;
  bn_forward_train_kernel<<<static_cast<unsigned>(s.c), kThreads, 0, stream>>>(
      s, x, gamma, beta, eps, momentum, running_mean, running_var, y, save_mean, save_invstd);
  LNX_CUDA_CHECK(cudaGetLastError(), "batch_norm_forward_train");
}

void launch_bn_forward_eval(const BnShape& s, const float* x, const float* gamma, const float* beta,
                            const float* running_mean, const float* running_var, double eps,
                            float* y, cudaStream_t stream) {
  const int64_t n = s.n * s.c * s.inner;
  if (n == 0) return;
  bn_forward_eval_kernel<<<grid_for(n), kThreads, 0, stream>>>(s, x, gamma, beta, running_mean,
                                                               running_var, eps, y);
  LNX_CUDA_CHECK(cudaGetLastError(), "batch_norm_forward_eval");
}

void launch_bn_backward(const BnShape& s, const float* grad_y, const float* x, const float* gamma,
                        const float* save_mean, const float* save_invstd, float* grad_x,
                        float* grad_gamma, float* grad_beta, cudaStream_t stream) {
  if (s.c == 0) return;
  bn_backward_kernel<<<static_cast<unsigned>(s.c), kThreads, 0, stream>>>(
      s, grad_y, x, gamma, save_mean, save_invstd, grad_x, grad_gamma, grad_beta);
  LNX_CUDA_CHECK(cudaGetLastError(), "batch_norm_backward");
}

}  // namespace lnx::cuda
