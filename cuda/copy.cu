// Strided copies with dtype conversion, and fills. The dtypes are runtime switches inside one
// kernel: nine template instantiations would cost more build time than the branch costs at run
// time (it is uniform across a launch).
#include "cuda/check.h"
#include "cuda/kernels.h"
#include "cuda/launch.cuh"

namespace lnx::cuda {
namespace {

// A source value keeps its integer-ness so int64 -> uint8 wraps and int64 -> float rounds once,
// as static_cast does on the CPU.
struct Value {
  bool is_int;
  int64_t i;
  float f;
};

__device__ inline Value load(const void* p, DType t, int64_t off) {
  switch (t) {
    case DType::Float32:
      return {false, 0, static_cast<const float*>(p)[off]};
    case DType::Int64:
      return {true, static_cast<const int64_t*>(p)[off], 0.0f};
    case DType::UInt8:
      return {true, static_cast<const uint8_t*>(p)[off], 0.0f};
  }
  return {false, 0, 0.0f};
}

__device__ inline void store(void* p, DType t, int64_t off, Value v) {
  switch (t) {
    case DType::Float32:
      static_cast<float*>(p)[off] = v.is_int ? static_cast<float>(v.i) : v.f;
      return;
    case DType::Int64:
      static_cast<int64_t*>(p)[off] = v.is_int ? v.i : static_cast<int64_t>(v.f);
      return;
    case DType::UInt8:
      // Through int64 for floats too: float -> uint8 is only defined for 0..255 anyway.
      static_cast<uint8_t*>(p)[off] =
          static_cast<uint8_t>(v.is_int ? v.i : static_cast<int64_t>(v.f));
      return;
  }
}

__global__ void copy_kernel(Layout l, const void* src, DType st, void* dst, DType dt) {
  for (int64_t i = first_index(); i < l.numel; i += grid_stride()) {
    int64_t off[2];
    offsets_of(l, i, off);
    store(dst, dt, off[1], load(src, st, off[0]));
  }
}

__global__ void fill_kernel(Layout l, void* dst, DType t, Value v) {
  for (int64_t i = first_index(); i < l.numel; i += grid_stride()) {
    int64_t off[1];
    offsets_of(l, i, off);
    store(dst, t, off[0], v);
  }
}

}  // namespace

void launch_copy(const Layout& l, const void* src, DType src_dtype, void* dst, DType dst_dtype,
                 cudaStream_t stream) {
  if (l.numel == 0) return;
  copy_kernel<<<grid_for(l.numel), kThreads, 0, stream>>>(l, src, src_dtype, dst, dst_dtype);
  LNX_CUDA_CHECK(cudaGetLastError(), "copy");
}

void launch_fill(const Layout& l, void* dst, DType dtype, double value, cudaStream_t stream) {
  if (l.numel == 0) return;
  // Converted on the host exactly as CpuBackend::fill does.
  Value v{false, 0, 0.0f};
  switch (dtype) {
    case DType::Float32:
      v = {false, 0, static_cast<float>(value)};
      break;
    case DType::Int64:
      v = {true, static_cast<int64_t>(value), 0.0f};
      break;
    case DType::UInt8:
      v = {true, static_cast<uint8_t>(value), 0.0f};
      break;
  }
  fill_kernel<<<grid_for(l.numel), kThreads, 0, stream>>>(l, dst, dtype, v);
  LNX_CUDA_CHECK(cudaGetLastError(), "fill");
}

}  // namespace lnx::cuda
