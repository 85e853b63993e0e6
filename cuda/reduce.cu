// Reductions over any set of axes, and argmax. Short reductions run one thread per output
// (adjacent threads read adjacent kept elements); long ones one block per output, split over
// several blocks plus a second pass when there are too few outputs to fill the GPU.
#include <cmath>

#include "cuda/check.h"
#include "cuda/kernels.h"
#include "cuda/launch.cuh"

namespace lnx::cuda {
namespace {

constexpr int64_t kSerialLimit = 256;    // reduced elements a single thread takes on
constexpr int64_t kManyOutputs = 65536;  // outputs that fill the GPU one thread each
constexpr int64_t kTargetBlocks = 512;   // blocks a split reduction aims for
constexpr int64_t kPerThreadChunk = 16;  // elements per thread before splitting pays

__host__ __device__ inline float reduce_init(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return 0.0f;
    case ReduceOp::Max:
      return -INFINITY;
    case ReduceOp::Min:
      return INFINITY;
    case ReduceOp::AbsMax:
      return 0.0f;
  }
  return 0.0f;
}

// As core/cpu/reduce.cpp: a NaN wins and stays. Also merges partial results (AbsMax partials
// are already non-negative, so taking |.| again changes nothing).
__device__ inline float combine(ReduceOp op, float acc, float v) {
  switch (op) {
    case ReduceOp::Sum:
      return acc + v;
    case ReduceOp::Max:
      return v > acc || isnan(v) ? v : acc;
    case ReduceOp::Min:
      return v < acc || isnan(v) ? v : acc;
    case ReduceOp::AbsMax: {
      const float a = v < 0.0f ? -v : v;
      return a > acc || isnan(v) ? a : acc;
    }
  }
  return acc;
}

__global__ void reduce_thread_kernel(ReduceOp op, ReduceLayout l, const float* x, float* out) {
  for (int64_t o = first_index(); o < l.n_out; o += grid_stride()) {
    const float* base = x + kept_offset(l, o);
    float acc = reduce_init(op);
    for (int64_t r = 0; r < l.n_red; ++r) acc = combine(op, acc, base[reduced_offset(l, r)]);
    out[o] = acc;
  }
}

// Block (o, s) reduces part s of gridDim.y of output o into out[o * gridDim.y + s].
__global__ void reduce_block_kernel(ReduceOp op, ReduceLayout l, const float* x, float* out) {
  __shared__ float partial[kThreads];
  const int64_t splits = gridDim.y, s = blockIdx.y;
  const int64_t lo = l.n_red * s / splits, hi = l.n_red * (s + 1) / splits;
  for (int64_t o = blockIdx.x; o < l.n_out; o += gridDim.x) {
    const float* base = x + kept_offset(l, o);
    float acc = reduce_init(op);
    for (int64_t r = lo + threadIdx.x; r < hi; r += blockDim.x)
      acc = combine(op, acc, base[reduced_offset(l, r)]);
    partial[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned width = blockDim.x / 2; width > 0; width /= 2) {
      if (threadIdx.x < width)
        partial[threadIdx.x] = combine(op, partial[threadIdx.x], partial[threadIdx.x + width]);
      __syncthreads();
    }
    if (threadIdx.x == 0) out[o * splits + s] = partial[0];
    __syncthreads();  // partial[0] is read before the next output overwrites it
  }
}

__global__ void argmax_kernel(ReduceLayout l, const float* x, int64_t* out) {
  for (int64_t o = first_index(); o < l.n_out; o += grid_stride()) {
    const float* base = x + kept_offset(l, o);
    int64_t best = 0;
    float bv = base[0];
    for (int64_t r = 1; r < l.n_red; ++r) {
      const float v = base[reduced_offset(l, r)];
      if (v > bv) {
        bv = v;
        best = r;
      }
    }
    out[o] = best;
  }
}

bool serial(const ReduceLayout& l) {
  return l.n_red <= kSerialLimit || l.n_out >= kManyOutputs;
}

int64_t splits_of(const ReduceLayout& l) {
  if (serial(l) || l.n_out >= kTargetBlocks) return 1;
  const int64_t by_work = (l.n_red + kThreads * kPerThreadChunk - 1) / (kThreads * kPerThreadChunk);
  const int64_t by_grid = kTargetBlocks / l.n_out;
  const int64_t s = by_work < by_grid ? by_work : by_grid;
  return s < 1 ? 1 : s;
}

unsigned output_blocks(int64_t n_out) {
  return static_cast<unsigned>(n_out < 65535 ? n_out : 65535);
}

}  // namespace

int64_t reduce_scratch_floats(const ReduceLayout& l) {
  const int64_t s = splits_of(l);
  return s > 1 ? l.n_out * s : 0;
}

void launch_reduce(ReduceOp op, const ReduceLayout& l, const float* x, float* out, float* scratch,
                   cudaStream_t stream) {
  if (l.n_out == 0) return;
  if (serial(l)) {
    reduce_thread_kernel<<<grid_for(l.n_out), kThreads, 0, stream>>>(op, l, x, out);
    LNX_CUDA_CHECK(cudaGetLastError(), "reduce");
    return;
  }
  const int64_t splits = splits_of(l);
  const dim3 grid(output_blocks(l.n_out), static_cast<unsigned>(splits));
  reduce_block_kernel<<<grid, kThreads, 0, stream>>>(op, l, x, splits > 1 ? scratch : out);
  LNX_CUDA_CHECK(cudaGetLastError(), "reduce");
  if (splits == 1) return;
  // Second pass: the (n_out, splits) partials, reduced over their contiguous last axis.
  ReduceLayout p;
  p.n_out = l.n_out;
  p.n_red = splits;
  p.kept_ndim = 1;
  p.kept_shape[0] = l.n_out;
  p.kept_strides[0] = splits;
  p.red_ndim = 1;
  p.red_shape[0] = splits;
  p.red_strides[0] = 1;
  reduce_block_kernel<<<output_blocks(p.n_out), kThreads, 0, stream>>>(op, p, scratch, out);
  LNX_CUDA_CHECK(cudaGetLastError(), "reduce");
}

void launch_argmax(const ReduceLayout& l, const float* x, int64_t* out, cudaStream_t stream) {
  if (l.n_out == 0) return;
  argmax_kernel<<<grid_for(l.n_out), kThreads, 0, stream>>>(l, x, out);
  LNX_CUDA_CHECK(cudaGetLastError(), "argmax");
}

}  // namespace lnx::cuda
