// Host-side launchers of the kernels in elementwise.cu, copy.cu, random.cu and reduce.cu. They
// take raw device pointers and layouts (cuda/layout.h), queue the kernel on `stream` and check
// the launch; CudaBackend turns Tensors into these arguments.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/backend.h"
#include "cuda/layout.h"

namespace lnx::cuda {

// cudaSuccess when this binary holds kernel code the current device can run.
cudaError_t probe_kernel_image();

// copy.cu: operand 0 of the layout is the source, operand 1 the destination.
void launch_copy(const Layout& l, const void* src, DType src_dtype, void* dst, DType dst_dtype,
                 cudaStream_t stream);
void launch_fill(const Layout& l, void* dst, DType dtype, double value, cudaStream_t stream);

// elementwise.cu (float32). Operands: inputs first, output last.
void launch_unary(UnaryOp op, const Layout& l, const float* x, float* out, cudaStream_t stream);
// `saved` is x or y, whichever unary_backward_uses_output(op) says.
void launch_unary_backward(UnaryOp op, const Layout& l, const float* grad_out, const float* saved,
                           float* grad_in, cudaStream_t stream);
bool unary_backward_uses_output(UnaryOp op);
void launch_binary(BinaryOp op, const Layout& l, const float* a, const float* b, float* out,
                   cudaStream_t stream);
void launch_binary_scalar(BinaryOp op, const Layout& l, const float* a, float s, bool scalar_first,
                          float* out, cudaStream_t stream);
void launch_clamp(const Layout& l, const float* x, float lo, float hi, float* out,
                  cudaStream_t stream);
void launch_clamp_backward(const Layout& l, const float* grad_out, const float* x, float lo,
                           float hi, float* grad_in, cudaStream_t stream);

// random.cu: out contiguous, element i from counter offset + i (core/random.h); uniform gives
// low + span * u.
void launch_uniform(float* out, int64_t n, float low, float span, uint64_t seed, uint64_t offset,
                    cudaStream_t stream);
void launch_normal(float* out, int64_t n, float mean, float std, uint64_t seed, uint64_t offset,
                   cudaStream_t stream);

// reduce.cu. Long reductions over few outputs are split across blocks: the caller passes a
// scratch buffer of reduce_scratch_floats(l) floats (null when that is 0).
int64_t reduce_scratch_floats(const ReduceLayout& l);
void launch_reduce(ReduceOp op, const ReduceLayout& l, const float* x, float* out, float* scratch,
                   cudaStream_t stream);
// out (int64, contiguous): index of the first maximum over the layout's one reduced axis.
void launch_argmax(const ReduceLayout& l, const float* x, int64_t* out, cudaStream_t stream);

}  // namespace lnx::cuda
