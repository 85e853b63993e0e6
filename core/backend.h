// The Backend: one interface of kernels that every device implements. Ops (core/ops.h and
// autograd/) validate arguments, allocate outputs and then call the backend of their inputs'
// device; kernels therefore trust shapes and dtypes and only compute.
//
// Conventions for every kernel:
//  - all tensors are on this backend's device;
//  - outputs are contiguous and already allocated with the right shape and dtype;
//  - inputs may be arbitrary strided views (element-wise kernels accept stride-0 broadcast
//    views) unless a comment says "contiguous";
//  - images are NCHW, convolution weights (O, I/groups, KH, KW).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/tensor.h"

namespace lnx {

enum class UnaryOp {
  Neg,
  Exp,
  Log,
  Sqrt,
  Square,
  Abs,
  Sigmoid,
  Tanh,
  Softplus,
  Relu,
  Relu6,
  Round,
  Sign,
  Reciprocal,
  IsFinite  // IsFinite: 1 where finite, else 0
};
const char* unary_op_name(UnaryOp op);

// Comparison ops produce 1.0f / 0.0f in a float32 output.
enum class BinaryOp { Add, Sub, Mul, Div, Pow, Maximum, Minimum, Greater, Less, Equal };
const char* binary_op_name(BinaryOp op);

enum class ReduceOp { Sum, Max, Min, AbsMax };

struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
  // A hint that many (out, in) kernel slices of the weight are all zero, as in LilNetX's latent
  // layers: a backend may then skip those slices in the forward pass and the input gradient. The
  // result equals the dense convolution's for finite inputs.
  bool skip_zero_slices = false;
};

struct Pool2dParams {
  int64_t kernel_h = 2, kernel_w = 2;
  int64_t stride_h = 2, stride_w = 2;
  int64_t pad_h = 0, pad_w = 0;
  bool count_include_pad = true;  // average pooling only (PyTorch's default)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual DeviceType type() const = 0;
  virtual std::string name() const = 0;

  // ---- memory ----
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* p, size_t nbytes) = 0;
  // Contiguous byte copies between this device and the host (or within this device).
  virtual void copy_to_host(const void* src, void* host_dst, size_t nbytes) = 0;
  virtual void copy_from_host(const void* host_src, void* dst, size_t nbytes) = 0;
  // Strided copy with dtype conversion; src already expanded to dst's shape.
  virtual void copy(const Tensor& src, const Tensor& dst);
  virtual void fill(const Tensor& dst, double value);  // dst may be strided
  virtual void synchronize() {}

  // ---- element-wise ----
  virtual void unary(UnaryOp op, const Tensor& x, const Tensor& out);
  // grad_in = grad_out * f'(x); y = f(x) is passed so sigmoid/tanh/sqrt/exp can reuse it.
  virtual void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& grad_out,
                              const Tensor& grad_in);
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
  // out = a op s, or s op a when scalar_first.
  virtual void binary_scalar(BinaryOp op, const Tensor& a, double s, bool scalar_first,
                             const Tensor& out);
  virtual void clamp(const Tensor& x, double lo, double hi, const Tensor& out);
  // out = max(a + b, 0), a and b already expanded to out's shape: a residual block's join. The
  // default adds, then applies the ReLU in place; a backend overrides it to save that pass.
  virtual void add_relu(const Tensor& a, const Tensor& b, const Tensor& out);
  // grad_in = grad_out where lo <= x <= hi, else 0.
  virtual void clamp_backward(const Tensor& x, double lo, double hi, const Tensor& grad_out,
                              const Tensor& grad_in);

  // ---- reductions ----
  // Reduces x over `axes` (sorted, unique); out has x's shape with those axes set to 1.
  virtual void reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& axes,
                      const Tensor& out);
  // out (int64) has x's shape with `axis` removed.
  virtual void argmax(const Tensor& x, int64_t axis, const Tensor& out);

  // ---- linear algebra ----
  // c = alpha * op(a) * op(b) + beta * c for 2-D float32 (a, b strided views allowed).
  virtual void gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b,
                    float beta, const Tensor& c);

  // ---- convolution and pooling (x, w contiguous) ----
  virtual void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias,
                              const Conv2dParams& p, const Tensor& y);
  virtual void conv2d_backward_input(const Tensor& grad_y, const Tensor& w, const Conv2dParams& p,
                                     const Tensor& grad_x);
  virtual void conv2d_backward_weight(const Tensor& grad_y, const Tensor& x, const Conv2dParams& p,
                                      const Tensor& grad_w);
  // indices (int64, y's shape) hold the flat h*W+w position of each maximum in its plane.
  virtual void max_pool2d_forward(const Tensor& x, const Pool2dParams& p, const Tensor& y,
                                  const Tensor& indices);
  virtual void max_pool2d_backward(const Tensor& grad_y, const Tensor& indices,
                                   const Tensor& grad_x);
  virtual void avg_pool2d_forward(const Tensor& x, const Pool2dParams& p, const Tensor& y);
  virtual void avg_pool2d_backward(const Tensor& grad_y, const Pool2dParams& p,
                                   const Tensor& grad_x);

  // ---- batch norm over (N, C) or (N, C, H, W), statistics per channel C ----
  // Writes the batch mean and 1/sqrt(var+eps) per channel, and when running_mean is defined
  // updates running = (1-momentum)*running + momentum*batch (unbiased variance), in place.
  virtual void batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                        double eps, double momentum, const Tensor& running_mean,
                                        const Tensor& running_var, const Tensor& y,
                                        const Tensor& save_mean, const Tensor& save_invstd);
  virtual void batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                       const Tensor& running_mean, const Tensor& running_var,
                                       double eps, const Tensor& y);
  // Training-mode backward (statistics depend on x). grad_gamma/grad_beta may be undefined.
  virtual void batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                   const Tensor& save_mean, const Tensor& save_invstd,
                                   const Tensor& grad_x, const Tensor& grad_gamma,
                                   const Tensor& grad_beta);
  // relu(batch_norm(x)) with the ReLU applied as y is written, and the training-mode backward of
  // that composition given its output y (grad_y counts only where y > 0). The defaults run the
  // two kernels one after the other; a backend overrides them to save a pass over y.
  virtual void batch_norm_relu_forward_train(const Tensor& x, const Tensor& gamma,
                                             const Tensor& beta, double eps, double momentum,
                                             const Tensor& running_mean, const Tensor& running_var,
                                             const Tensor& y, const Tensor& save_mean,
                                             const Tensor& save_invstd);
  virtual void batch_norm_relu_forward_eval(const Tensor& x, const Tensor& gamma,
                                            const Tensor& beta, const Tensor& running_mean,
                                            const Tensor& running_var, double eps, const Tensor& y);
  virtual void batch_norm_relu_backward(const Tensor& grad_y, const Tensor& y, const Tensor& x,
                                        const Tensor& gamma, const Tensor& save_mean,
                                        const Tensor& save_invstd, const Tensor& grad_x,
                                        const Tensor& grad_gamma, const Tensor& grad_beta);

  // ---- softmax and loss over the last axis of a contiguous (N, C) tensor ----
  virtual void log_softmax_forward(const Tensor& x, const Tensor& y);
  virtual void log_softmax_backward(const Tensor& grad_y, const Tensor& y, const Tensor& grad_x);
  // out (scalar) = -mean_n logp[n, labels[n]].
  virtual void nll_loss_forward(const Tensor& logp, const Tensor& labels, const Tensor& out);
  // grad_logp[n, c] = -grad_out / N at c = labels[n], else 0.
  virtual void nll_loss_backward(const Tensor& grad_out, const Tensor& labels,
                                 const Tensor& grad_logp);

  // ---- LilNetX's fused rate under the factorized prior (compress/factorized_prior.h) ----
  // values (M, C) and params (C, 11) contiguous float32. Writes, for whichever are given:
  // bits_out (M, C) the clamped bits of each element; grad_values (M, C) and grad_params
  // (C, 11), overwritten (not accumulated), the gradients of the total bits (both defined or
  // both undefined); *total_bits the sum of every element's bits. Sums are deterministic.
  virtual void factorized_rate(const Tensor& values, const Tensor& params, const Tensor& bits_out,
                               const Tensor& grad_values, const Tensor& grad_params,
                               double* total_bits);

  // ---- input pipeline ----
  // out = (x / 255 - mean[c]) / std[c] in float, as the CPU loader's Normalize computes it, for
  // uint8 images x (N, C, H, W) into float32 out of the same shape; mean and std (C) float32.
  // Lets a GPU receive batches as bytes (a quarter of the transfer) and normalise them itself.
  virtual void normalize_images(const Tensor& x, const Tensor& mean, const Tensor& std,
                                const Tensor& out);

  // ---- random numbers: element i uses counter offset + i (core/random.h) ----
  virtual void uniform(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset);
  virtual void normal(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset);

 protected:
  [[noreturn]] void unsupported(const char* kernel) const;
};

Backend& backend(Device device);
Backend& backend_of(const Tensor& t);
bool cuda_available();  // true when built with CUDA and a device is present
std::string cuda_unavailable_reason();

// Threads used by CPU kernels (OpenMP and Eigen); default: all cores.
void set_num_threads(int n);
int num_threads();

}  // namespace lnx
