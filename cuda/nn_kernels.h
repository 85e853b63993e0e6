// Host-side launchers of the network kernels in pool.cu, batch_norm.cu, softmax.cu,
// factorized_rate.cu and images.cu. Like kernels.h they take raw device pointers of contiguous
// buffers and queue on `stream`; CudaBackend (cuda/nn_backend.cpp) turns Tensors into these
// arguments.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/backend.h"

namespace lnx::cuda {

// pool.cu: planes = N * C, each plane (H, W) in and (OH, OW) out.
struct PoolShape {
  int64_t planes, h, w, oh, ow;
};
void launch_max_pool_forward(const PoolShape& s, const Pool2dParams& p, const float* x, float* y,
                             int64_t* indices, cudaStream_t stream);
// Zeroes grad_x, then adds each output gradient at its recorded maximum.
void launch_max_pool_backward(const PoolShape& s, const float* grad_y, const int64_t* indices,
                              float* grad_x, cudaStream_t stream);
void launch_avg_pool_forward(const PoolShape& s, const Pool2dParams& p, const float* x, float* y,
                             cudaStream_t stream);
void launch_avg_pool_backward(const PoolShape& s, const Pool2dParams& p, const float* grad_y,
                              float* grad_x, cudaStream_t stream);

// batch_norm.cu: x (N, C, inner) contiguous. gamma/beta may be null (1 and 0); running stats
// may be null (not updated); grad_gamma/grad_beta/grad_x may be null (not written).
struct BnShape {
  int64_t n, c, inner;
};
void launch_bn_forward_train(const BnShape& s, const float* x, const float* gamma,
                             const float* beta, double eps, double momentum, float* running_mean,
                             float* running_var, float* y, float* save_mean, float* save_invstd,
                             cudaStream_t stream);
void launch_bn_forward_eval(const BnShape& s, const float* x, const float* gamma, const float* beta,
                            const float* running_mean, const float* running_var, double eps,
                            float* y, cudaStream_t stream);
void launch_bn_backward(const BnShape& s, const float* grad_y, const float* x, const float* gamma,
                        const float* save_mean, const float* save_invstd, float* grad_x,
                        float* grad_gamma, float* grad_beta, cudaStream_t stream);

// softmax.cu over contiguous (rows, cols).
void launch_log_softmax_forward(int64_t rows, int64_t cols, const float* x, float* y,
                                cudaStream_t stream);
void launch_log_softmax_backward(int64_t rows, int64_t cols, const float* grad_y, const float* y,
                                 float* grad_x, cudaStream_t stream);
void launch_nll_loss_forward(int64_t rows, int64_t cols, const float* logp, const int64_t* labels,
                             float* out, cudaStream_t stream);
// grad_out is a device scalar.
void launch_nll_loss_backward(int64_t rows, int64_t cols, const float* grad_out,
                              const int64_t* labels, float* grad_logp, cudaStream_t stream);

// factorized_rate.cu: values (M, C), params (C, 11). bits_out, grad_values and grad_params may
// be null (grad_values and grad_params together). Writes each channel's bits into
// channel_bits (C doubles, device memory); the host sums them in order. `partial` is scratch of
// factorized_rate_scratch_doubles(m, c) doubles.
int64_t factorized_rate_scratch_doubles(int64_t m, int64_t c);
void launch_factorized_rate(int64_t m, int64_t c, const float* values, const float* params,
                            float* bits_out, float* grad_values, float* grad_params,
                            double* partial, double* channel_bits, cudaStream_t stream);

// images.cu: out = (x / 255 - mean[c]) / std[c], x uint8 (N, C, plane), out float32.
void launch_normalize_images(int64_t n, int64_t c, int64_t plane, const uint8_t* x,
                             const float* mean, const float* std, float* out, cudaStream_t stream);

}  // namespace lnx::cuda
