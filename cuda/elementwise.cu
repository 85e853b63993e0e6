// Element-wise float32 kernels. One kernel per family with the op as a runtime switch: the
// branch is uniform across a launch, and it keeps nvcc's work (and build time) small. The math
// mirrors core/cpu/elementwise.cpp, including std::max/std::min's NaN behaviour.
#include "cuda/check.h"
#include "cuda/kernels.h"
#include "cuda/launch.cuh"

namespace lnx::cuda {
namespace {

// std::max / std::min semantics: the first argument wins ties and NaN comparisons.
__device__ inline float max_std(float a, float b) {
  return a < b ? b : a;
}
__device__ inline float min_std(float a, float b) {
  return b < a ? b : a;
}
__device__ inline float sigmoid(float x) {
  return 1.0f / (1.0f + expf(-x));
}

__device__ float apply_unary(UnaryOp op, float v) {
  switch (op) {
    case UnaryOp::Neg:
      return -v;
    case UnaryOp::Exp:
      return expf(v);
    case UnaryOp::Log:
      return logf(v);
    case UnaryOp::Sqrt:
      return sqrtf(v);
    case UnaryOp::Square:
      return v * v;
    case UnaryOp::Abs:
      return fabsf(v);
    case UnaryOp::Sigmoid:
      return sigmoid(v);
    case UnaryOp::Tanh:
      return tanhf(v);
    case UnaryOp::Softplus:
      return log1pf(expf(-fabsf(v))) + max_std(v, 0.0f);
    case UnaryOp::Relu:
      return v > 0.0f ? v : 0.0f;
    case UnaryOp::Relu6:
      return min_std(max_std(v, 0.0f), 6.0f);
    case UnaryOp::Round:
      return rintf(v);  // half to even, as std::nearbyint by default
    case UnaryOp::Sign:
      return static_cast<float>((v > 0.0f) - (v < 0.0f));
    case UnaryOp::Reciprocal:
      return 1.0f / v;
    case UnaryOp::IsFinite:
      return isfinite(v) ? 1.0f : 0.0f;
  }
  return 0.0f;
}

// d = grad_out, s = x or y as unary_backward_uses_output says.
__device__ float apply_unary_backward(UnaryOp op, float d, float s) {
  switch (op) {
    case UnaryOp::Neg:
      return -d;
    case UnaryOp::Round:
      return d;  // straight-through
    case UnaryOp::Sign:
    case UnaryOp::IsFinite:
      return 0.0f;
    case UnaryOp::Exp:
      return d * s;
    case UnaryOp::Log:
      return d / s;
    case UnaryOp::Sqrt:
      return 0.5f * d / s;
    case UnaryOp::Square:
      return 2.0f * d * s;
    case UnaryOp::Abs:
      return s > 0.0f ? d : (s < 0.0f ? -d : 0.0f);
    case UnaryOp::Sigmoid:
      return d * s * (1.0f - s);
    case UnaryOp::Tanh:
      return d * (1.0f - s * s);
    case UnaryOp::Softplus:
      return d * sigmoid(s);
    case UnaryOp::Relu:
      return s > 0.0f ? d : 0.0f;
    case UnaryOp::Relu6:
      return s > 0.0f && s < 6.0f ? d : 0.0f;
    case UnaryOp::Reciprocal:
      return -d * s * s;
  }
  return 0.0f;
}

__device__ float apply_binary(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::Add:
      return a + b;
    case BinaryOp::Sub:
      return a - b;
    case BinaryOp::Mul:
      return a * b;
    case BinaryOp::Div:
      return a / b;
    case BinaryOp::Pow:
      return powf(a, b);
    case BinaryOp::Maximum:
      return max_std(a, b);
    case BinaryOp::Minimum:
      return min_std(a, b);
    case BinaryOp::Greater:
      return a > b ? 1.0f : 0.0f;
    case BinaryOp::Less:
      return a < b ? 1.0f : 0.0f;
    case BinaryOp::Equal:
      return a == b ? 1.0f : 0.0f;
  }
  return 0.0f;
}

__global__ void unary_kernel(UnaryOp op, Layout l, const float* x, float* out) {
  for (int64_t i = first_index(); i < l.numel; i += grid_stride()) {
    int64_t off[2];
    offsets_of(l, i, off);
    out[off[1]] = apply_unary(op, x[off[0]]);
  }
}

__global__ void unary_backward_kernel(UnaryOp op, Layout l, const float* g, const float* s,
                                      float* gin) {
  for (int64_t i = first_index(); i < l.numel; i += grid_stride()) {
    int64_t off[3];
    offsets_of(l, i, off);
    gin[off[2]] = apply_unary_backward(op, g[off[0]], s[off[1]]);
  }
}

__global__ void binary_kernel(BinaryOp op, Layout l, const float* a, const float* b, float* out) {
  for (int64_t i = first_index(); i < l.numel; i += grid_stride()) {
    int64_t off[3];
    offsets_of(l, i, off);
    out[off[2]] = apply_binary(op, a[off[0]], b[off[1]]);
  }
}

__global__ void binary_scalar_kernel(BinaryOp op, Layout l, const float* a, float s,
                                     bool scalar_first, float* out) {
  for (int64_t i = first_index(); i < l.numel; i += grid_stride()) {
    int64_t off[2];
    offsets_of(l, i, off);
    const float v = a[off[0]];
    out[off[1]] = scalar_first ? apply_binary(op, s, v) : apply_binary(op, v, s);
  }
}

__global__ void clamp_kernel(Layout l, const float* x, float lo, float hi, float* out) {
  for (int64_t i = first_index(); i < l.numel; i += grid_stride()) {
    int64_t off[2];
    offsets_of(l, i, off);
    out[off[1]] = min_std(max_std(x[off[0]], lo), hi);
  }
}

__global__ void clamp_backward_kernel(Layout l, const float* g, const float* x, float lo, float hi,
                                      float* gin) {
  for (int64_t i = first_index(); i < l.numel; i += grid_stride()) {
    int64_t off[3];
    offsets_of(l, i, off);
    const float v = x[off[1]];
    gin[off[2]] = v >= lo && v <= hi ? g[off[0]] : 0.0f;
  }
}

}  // namespace

cudaError_t probe_kernel_image() {
  cudaFuncAttributes attr;
  return cudaFuncGetAttributes(&attr, unary_kernel);
}

bool unary_backward_uses_output(UnaryOp op) {
  switch (op) {
    case UnaryOp::Exp:
    case UnaryOp::Sqrt:
    case UnaryOp::Sigmoid:
    case UnaryOp::Tanh:
    case UnaryOp::Reciprocal:
      return true;
    default:
      return false;
  }
}

void launch_unary(UnaryOp op, const Layout& l, const float* x, float* out, cudaStream_t stream) {
  if (l.numel == 0) return;
  unary_kernel<<<grid_for(l.numel), kThreads, 0, stream>>>(op, l, x, out);
  LNX_CUDA_CHECK(cudaGetLastError(), unary_op_name(op));
}

void launch_unary_backward(UnaryOp op, const Layout& l, const float* grad_out, const float* saved,
                           float* grad_in, cudaStream_t stream) {
  if (l.numel == 0) return;
  unary_backward_kernel<<<grid_for(l.numel), kThreads, 0, stream>>>(op, l, grad_out, saved,
                                                                    grad_in);
  LNX_CUDA_CHECK(cudaGetLastError(), unary_op_name(op));
}

void launch_binary(BinaryOp op, const Layout& l, const float* a, const float* b, float* out,
                   cudaStream_t stream) {
  if (l.numel == 0) return;
  binary_kernel<<<grid_for(l.numel), kThreads, 0, stream>>>(op, l, a, b, out);
  LNX_CUDA_CHECK(cudaGetLastError(), binary_op_name(op));
}

void launch_binary_scalar(BinaryOp op, const Layout& l, const float* a, float s, bool scalar_first,
                          float* out, cudaStream_t stream) {
  if (l.numel == 0) return;
  binary_scalar_kernel<<<grid_for(l.numel), kThreads, 0, stream>>>(op, l, a, s, scalar_first, out);
  LNX_CUDA_CHECK(cudaGetLastError(), binary_op_name(op));
}

void launch_clamp(const Layout& l, const float* x, float lo, float hi, float* out,
                  cudaStream_t stream) {
  if (l.numel == 0) return;
  clamp_kernel<<<grid_for(l.numel), kThreads, 0, stream>>>(l, x, lo, hi, out);
  LNX_CUDA_CHECK(cudaGetLastError(), "clamp");
}

void launch_clamp_backward(const Layout& l, const float* grad_out, const float* x, float lo,
                           float hi, float* grad_in, cudaStream_t stream) {
  if (l.numel == 0) return;
  clamp_backward_kernel<<<grid_for(l.numel), kThreads, 0, stream>>>(l, grad_out, x, lo, hi,
                                                                    grad_in);
  LNX_CUDA_CHECK(cudaGetLastError(), "clamp_backward");
}

}  // namespace lnx::cuda
