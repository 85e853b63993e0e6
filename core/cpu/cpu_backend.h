// The CPU backend: Eigen for GEMM, OpenMP for parallel loops, plain loops elsewhere.
// Kernels are split by family into the .cpp files beside this header.
#pragma once

#include "core/backend.h"

namespace lnx {

class CpuBackend final : public Backend {
 public:
  DeviceType type() const override { return DeviceType::CPU; }
  std::string name() const override { return "cpu"; }

  // memory.cpp
  void* allocate(size_t nbytes) override;
  void deallocate(void* p, size_t nbytes) override;
  void copy_to_host(const void* src, void* host_dst, size_t nbytes) override;
  void copy_from_host(const void* host_src, void* dst, size_t nbytes) override;
  void copy(const Tensor& src, const Tensor& dst) override;
  void fill(const Tensor& dst, double value) override;
  void uniform(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset) override;
  void normal(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) override;

  // elementwise.cpp
  void unary(UnaryOp op, const Tensor& x, const Tensor& out) override;
  void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& grad_out,
                      const Tensor& grad_in) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void binary_scalar(BinaryOp op, const Tensor& a, double s, bool scalar_first,
                     const Tensor& out) override;
  void clamp(const Tensor& x, double lo, double hi, const Tensor& out) override;
  void add_relu(const Tensor& a, const Tensor& b, const Tensor& out) override;
  void clamp_backward(const Tensor& x, double lo, double hi, const Tensor& grad_out,
                      const Tensor& grad_in) override;

  // reduce.cpp
  void reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& axes,
              const Tensor& out) override;
  void argmax(const Tensor& x, int64_t axis, const Tensor& out) override;

  // gemm.cpp
  void gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b, float beta,
            const Tensor& c) override;

  // conv.cpp, on conv_geometry, conv_layouts, direct_gemm (AVX-512), strided_input_grad and
  // conv_columns (im2col tiles); sparse_conv.cpp skips zero kernel slices
  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                      const Tensor& y) override;
  void conv2d_backward_input(const Tensor& grad_y, const Tensor& w, const Conv2dParams& p,
                             const Tensor& grad_x) override;
  void conv2d_backward_weight(const Tensor& grad_y, const Tensor& x, const Conv2dParams& p,
                              const Tensor& grad_w) override;

  // pool.cpp
  void max_pool2d_forward(const Tensor& x, const Pool2dParams& p, const Tensor& y,
                          const Tensor& indices) override;
  void max_pool2d_backward(const Tensor& grad_y, const Tensor& indices,
                           const Tensor& grad_x) override;
  void avg_pool2d_forward(const Tensor& x, const Pool2dParams& p, const Tensor& y) override;
  void avg_pool2d_backward(const Tensor& grad_y, const Pool2dParams& p,
                           const Tensor& grad_x) override;

  // batch_norm.cpp
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
  void batch_norm_relu_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                     double eps, double momentum, const Tensor& running_mean,
                                     const Tensor& running_var, const Tensor& y,
                                     const Tensor& save_mean, const Tensor& save_invstd) override;
  void batch_norm_relu_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                    const Tensor& running_mean, const Tensor& running_var,
                                    double eps, const Tensor& y) override;
  void batch_norm_relu_backward(const Tensor& grad_y, const Tensor& y, const Tensor& x,
                                const Tensor& gamma, const Tensor& save_mean,
                                const Tensor& save_invstd, const Tensor& grad_x,
                                const Tensor& grad_gamma, const Tensor& grad_beta) override;

  // images.cpp
  void normalize_images(const Tensor& x, const Tensor& mean, const Tensor& std,
                        const Tensor& out) override;

  // softmax.cpp
  void log_softmax_forward(const Tensor& x, const Tensor& y) override;
  void log_softmax_backward(const Tensor& grad_y, const Tensor& y, const Tensor& grad_x) override;
  void nll_loss_forward(const Tensor& logp, const Tensor& labels, const Tensor& out) override;
  void nll_loss_backward(const Tensor& grad_out, const Tensor& labels,
                         const Tensor& grad_logp) override;

  // factorized_rate.cpp
  void factorized_rate(const Tensor& values, const Tensor& params, const Tensor& bits_out,
                       const Tensor& grad_values, const Tensor& grad_params,
                       double* total_bits) override;
};

CpuBackend& cpu_backend();

}  // namespace lnx
