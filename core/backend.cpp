#include "core/backend.h"

#include <omp.h>

#include <Eigen/Core>

#include "core/cpu/cpu_backend.h"

namespace lnx {

#ifdef LNX_HAVE_CUDA
Backend* cuda_backend_or_null();  // cuda/cuda_backend.cpp; null when no GPU is present
std::string cuda_probe_message();
#endif

const char* unary_op_name(UnaryOp op) {
  static const char* names[] = {"neg",   "exp",     "log",  "sqrt",       "square",
                                "abs",   "sigmoid", "tanh", "softplus",   "relu",
                                "relu6", "round",   "sign", "reciprocal", "isfinite"};
  return names[static_cast<int>(op)];
}

const char* binary_op_name(BinaryOp op) {
  static const char* names[] = {"add",     "sub",     "mul",     "div",  "pow",
                                "maximum", "minimum", "greater", "less", "equal"};
  return names[static_cast<int>(op)];
}

Backend& backend(Device device) {
  if (device.is_cpu()) return cpu_backend();
#ifdef LNX_HAVE_CUDA
  if (Backend* b = cuda_backend_or_null()) return *b;
#endif
  fail("device ", device.name(), ": ", cuda_unavailable_reason());
}

Backend& backend_of(const Tensor& t) {
  return backend(t.device());
}

bool cuda_available() {
#ifdef LNX_HAVE_CUDA
  return cuda_backend_or_null() != nullptr;
#else
  return false;
#endif
}

std::string cuda_unavailable_reason() {
#ifdef LNX_HAVE_CUDA
  return cuda_probe_message();
#else
  return "this build of lilnetx has no CUDA backend (configure with -DLILNETX_CUDA=ON and the "
         "CUDA toolkit installed)";
#endif
}

void set_num_threads(int n) {
  LNX_CHECK(n >= 1, "set_num_threads: got ", n, ", expected at least 1");
  omp_set_num_threads(n);
  Eigen::setNbThreads(n);
}

int num_threads() {
  return omp_get_max_threads();
}

void Backend::unsupported(const char* kernel) const {
  fail(kernel, ": the ", name(), " backend has no kernel for this op in this build");
}

void Backend::copy(const Tensor&, const Tensor&) {
  unsupported("copy");
}
void Backend::fill(const Tensor&, double) {
  unsupported("fill");
}
void Backend::unary(UnaryOp op, const Tensor&, const Tensor&) {
  unsupported(unary_op_name(op));
}
void Backend::unary_backward(UnaryOp op, const Tensor&, const Tensor&, const Tensor&,
                             const Tensor&) {
  unsupported(unary_op_name(op));
}
void Backend::binary(BinaryOp op, const Tensor&, const Tensor&, const Tensor&) {
  unsupported(binary_op_name(op));
}
void Backend::binary_scalar(BinaryOp op, const Tensor&, double, bool, const Tensor&) {
  unsupported(binary_op_name(op));
}
void Backend::clamp(const Tensor&, double, double, const Tensor&) {
  unsupported("clamp");
}
void Backend::clamp_backward(const Tensor&, double, double, const Tensor&, const Tensor&) {
  unsupported("clamp_backward");
}
void Backend::reduce(ReduceOp, const Tensor&, const std::vector<int64_t>&, const Tensor&) {
  unsupported("reduce");
}
void Backend::argmax(const Tensor&, int64_t, const Tensor&) {
  unsupported("argmax");
}
void Backend::gemm(bool, bool, float, const Tensor&, const Tensor&, float, const Tensor&) {
  unsupported("gemm");
}
void Backend::conv2d_forward(const Tensor&, const Tensor&, const Tensor&, const Conv2dParams&,
                             const Tensor&) {
  unsupported("conv2d_forward");
}
void Backend::conv2d_backward_input(const Tensor&, const Tensor&, const Conv2dParams&,
                                    const Tensor&) {
  unsupported("conv2d_backward_input");
}
void Backend::conv2d_backward_weight(const Tensor&, const Tensor&, const Conv2dParams&,
                                     const Tensor&) {
  unsupported("conv2d_backward_weight");
}
void Backend::max_pool2d_forward(const Tensor&, const Pool2dParams&, const Tensor&, const Tensor&) {
  unsupported("max_pool2d_forward");
}
void Backend::max_pool2d_backward(const Tensor&, const Tensor&, const Tensor&) {
  unsupported("max_pool2d_backward");
}
void Backend::avg_pool2d_forward(const Tensor&, const Pool2dParams&, const Tensor&) {
  unsupported("avg_pool2d_forward");
}
void Backend::avg_pool2d_backward(const Tensor&, const Pool2dParams&, const Tensor&) {
  unsupported("avg_pool2d_backward");
}
void Backend::batch_norm_forward_train(const Tensor&, const Tensor&, const Tensor&, double, double,
                                       const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                       const Tensor&) {
  unsupported("batch_norm_forward_train");
}
void Backend::batch_norm_forward_eval(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                      const Tensor&, double, const Tensor&) {
  unsupported("batch_norm_forward_eval");
}
void Backend::batch_norm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                  const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  unsupported("batch_norm_backward");
}
void Backend::add_relu(const Tensor& a, const Tensor& b, const Tensor& out) {
  binary(BinaryOp::Add, a, b, out);
  unary(UnaryOp::Relu, out, out);
}
void Backend::batch_norm_relu_forward_train(const Tensor& x, const Tensor& gamma,
                                            const Tensor& beta, double eps, double momentum,
                                            const Tensor& running_mean, const Tensor& running_var,
                                            const Tensor& y, const Tensor& save_mean,
                                            const Tensor& save_invstd) {
  batch_norm_forward_train(x, gamma, beta, eps, momentum, running_mean, running_var, y, save_mean,
                           save_invstd);
  unary(UnaryOp::Relu, y, y);
}
void Backend::batch_norm_relu_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                           const Tensor& running_mean, const Tensor& running_var,
                                           double eps, const Tensor& y) {
  batch_norm_forward_eval(x, gamma, beta, running_mean, running_var, eps, y);
  unary(UnaryOp::Relu, y, y);
}
void Backend::batch_norm_relu_backward(const Tensor& grad_y, const Tensor& y, const Tensor& x,
                                       const Tensor& gamma, const Tensor& save_mean,
                                       const Tensor& save_invstd, const Tensor& grad_x,
                                       const Tensor& grad_gamma, const Tensor& grad_beta) {
  // relu'(x) = [y > 0] for y = relu(x), so y serves as both the input and output of the ReLU.
  const Tensor masked = Tensor::empty(grad_y.shape(), DType::Float32, grad_y.device());
  unary_backward(UnaryOp::Relu, y, y, grad_y, masked);
  batch_norm_backward(masked, x, gamma, save_mean, save_invstd, grad_x, grad_gamma, grad_beta);
}
void Backend::log_softmax_forward(const Tensor&, const Tensor&) {
  unsupported("log_softmax_forward");
}
void Backend::log_softmax_backward(const Tensor&, const Tensor&, const Tensor&) {
  unsupported("log_softmax_backward");
}
void Backend::nll_loss_forward(const Tensor&, const Tensor&, const Tensor&) {
  unsupported("nll_loss_forward");
}
void Backend::nll_loss_backward(const Tensor&, const Tensor&, const Tensor&) {
  unsupported("nll_loss_backward");
}
void Backend::factorized_rate(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                              const Tensor&, double*) {
  unsupported("factorized_rate");
}
void Backend::normalize_images(const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  unsupported("normalize_images");
}
void Backend::uniform(const Tensor&, double, double, uint64_t, uint64_t) {
  unsupported("uniform");
}
void Backend::normal(const Tensor&, double, double, uint64_t, uint64_t) {
  unsupported("normal");
}

}  // namespace lnx
