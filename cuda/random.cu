// Random fills from the counter-based generator of core/random.h. The same inline functions
// run on the CPU, so a (seed, offset) gives the same numbers on both devices up to the last-bit
// differences of logf/cosf and of a fused or separate final multiply-add.
#include "core/random.h"
#include "cuda/check.h"
#include "cuda/kernels.h"
#include "cuda/launch.cuh"

namespace lnx::cuda {
namespace {

__global__ void uniform_kernel(float* out, int64_t n, float low, float span, uint64_t seed,
                               uint64_t offset) {
  for (int64_t i = first_index(); i < n; i += grid_stride())
    out[i] = low + span * random_uniform01(seed, offset + i);
}

__global__ void normal_kernel(float* out, int64_t n, float mean, float std, uint64_t seed,
                              uint64_t offset) {
  for (int64_t i = first_index(); i < n; i += grid_stride())
    out[i] = mean + std * random_normal(seed, offset + i);
}

}  // namespace

void launch_uniform(float* out, int64_t n, float low, float span, uint64_t seed, uint64_t offset,
                    cudaStream_t stream) {
  if (n == 0) return;
  uniform_kernel<<<grid_for(n), kThreads, 0, stream>>>(out, n, low, span, seed, offset);
  LNX_CUDA_CHECK(cudaGetLastError(), "uniform");
}

void launch_normal(float* out, int64_t n, float mean, float std, uint64_t seed, uint64_t offset,
                   cudaStream_t stream) {
  if (n == 0) return;
  normal_kernel<<<grid_for(n), kThreads, 0, stream>>>(out, n, mean, std, seed, offset);
  LNX_CUDA_CHECK(cudaGetLastError(), "normal");
}

}  // namespace lnx::cuda
