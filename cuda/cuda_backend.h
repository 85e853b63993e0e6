// The CUDA backend. Every device gets one stream, a cuBLAS and a cuDNN handle, all created on
// first use; every kernel of a device is queued on its stream, so work is ordered without
// events and the caching allocator (cuda/allocator.h) can reuse a block as soon as the host
// frees it. Only copies to and from the host (and synchronize) wait for the device.
//
// Every Backend kernel has a CUDA version.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "core/backend.h"

namespace lnx::cuda {

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device_count);

  DeviceType type() const override { return DeviceType::CUDA; }
  std::string name() const override { return "cuda"; }

  // Allocates on the current CUDA device (Backend::allocate carries no device index).
  void* allocate(size_t nbytes) override;
  void deallocate(void* p, size_t nbytes) override;
  // Synchronous: they return when the bytes have arrived.
  void copy_to_host(const void* src, void* host_dst, size_t nbytes) override;
  void copy_from_host(const void* host_src, void* dst, size_t nbytes) override;
  void copy(const Tensor& src, const Tensor& dst) override;
  void fill(const Tensor& dst, double value) override;
  void synchronize() override;  // every device's stream

  void unary(UnaryOp op, const Tensor& x, const Tensor& out) override;
  void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& grad_out,
                      const Tensor& grad_in) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void binary_scalar(BinaryOp op, const Tensor& a, double s, bool scalar_first,
                     const Tensor& out) override;
  void clamp(const Tensor& x, double lo, double hi, const Tensor& out) override;
  void clamp_backward(const Tensor& x, double lo, double hi, const Tensor& grad_out,
                      const Tensor& grad_in) override;

  void reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& axes,
              const Tensor& out) override;
  void argmax(const Tensor& x, int64_t axis, const Tensor& out) override;

  void gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b, float beta,
            const Tensor& c) override;

  // conv_cudnn.cpp
  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                      const Tensor& y) override;
  void conv2d_backward_input(const Tensor& grad_y, const Tensor& w, const Conv2dParams& p,
                             const Tensor& grad_x) override;
  void conv2d_backward_weight(const Tensor& grad_y, const Tensor& x, const Conv2dParams& p,
                              const Tensor& grad_w) override;

  // nn_backend.cpp (kernels in pool.cu, batch_norm.cu, softmax.cu, factorized_rate.cu,
  // images.cu)
  void max_pool2d_forward(const Tensor& x, const Pool2dParams& p, const Tensor& y,
                          const Tensor& indices) override;
  void max_pool2d_backward(const Tensor& grad_y, const Tensor& indices,
                           const Tensor& grad_x) override;
  void avg_pool2d_forward(const Tensor& x, const Pool2dParams& p, const Tensor& y) override;
  void avg_pool2d_backward(const Tensor& grad_y, const Pool2dParams& p,
                           const Tensor& grad_x) override;
  void batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                double eps, double momentum, const Tensor& running_mean,
                                const Tensor& running_var, const Tensor& y, const Tensor& save_mean,
                                const Tensor& save_invstd) override;
  void batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                               const Tensor& running_mean, const Tensor& running_var, double eps,
                               const Tensor& y) override;
  void batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                           const Tensor& save_mean, const Tensor& save_invstd, const Tensor& grad_x,
                           const Tensor& grad_gamma, const Tensor& grad_beta) override;
  void log_softmax_forward(const Tensor& x, const Tensor& y) override;
  void log_softmax_backward(const Tensor& grad_y, const Tensor& y, const Tensor& grad_x) override;
  void nll_loss_forward(const Tensor& logp, const Tensor& labels, const Tensor& out) override;
  void nll_loss_backward(const Tensor& grad_out, const Tensor& labels,
                         const Tensor& grad_logp) override;
  void factorized_rate(const Tensor& values, const Tensor& params, const Tensor& bits_out,
                       const Tensor& grad_values, const Tensor& grad_params,
                       double* total_bits) override;
  void normalize_images(const Tensor& x, const Tensor& mean, const Tensor& std,
                        const Tensor& out) override;

  void uniform(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset) override;
  void normal(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) override;

  int device_count() const { return static_cast<int>(devices_.size()); }
  cudaStream_t stream(int device);
  cublasHandle_t cublas(int device);
  cudnnHandle_t cudnn(int device);

 private:
  // Handles are never destroyed: the backend lives until exit, and destroying them during
  // static destruction races the CUDA runtime's own teardown.
  struct PerDevice {
    std::once_flag stream_once, cublas_once, cudnn_once;
    cudaStream_t stream = nullptr;
    std::atomic<bool> has_stream{false};  // lets synchronize() skip devices never used
    cublasHandle_t cublas = nullptr;
    cudnnHandle_t cudnn = nullptr;
  };
  PerDevice& state(int device);
  int device_of(const Tensor& t, const char* op) const;

  std::vector<std::unique_ptr<PerDevice>> devices_;  // one per device, fixed at construction
};

}  // namespace lnx::cuda

namespace lnx {
// The process's CUDA backend, or null when no usable GPU is present (probed once, lazily,
// thread-safe); cuda_probe_message() says why, or describes the device when there is one.
Backend* cuda_backend_or_null();
std::string cuda_probe_message();
}  // namespace lnx
