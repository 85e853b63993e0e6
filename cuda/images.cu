// The input pipeline's normalisation of uint8 batches on the GPU (Backend::normalize_images):
// one thread per element, the same float operations as the CPU's, so both give identical bits
// (nvcc's default division is IEEE round-to-nearest; the build does not use fast math).
#include "cuda/check.h"
#include "cuda/launch.cuh"
#include "cuda/nn_kernels.h"

namespace lnx::cuda {
namespace {

__global__ void normalize_images_kernel(int64_t total, int64_t c, int64_t plane, const uint8_t* x,
                                        const float* mean, const float* std, float* out) {
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t ch = (i / plane) % c;
    out[i] = (static_cast<float>(x[i]) / 255.0f - mean[ch]) / std[ch];
  }
}

}  // namespace

void launch_normalize_images(int64_t n, int64_t c, int64_t plane, const uint8_t* x,
                             const float* mean, const float* std, float* out, cudaStream_t stream) {
  const int64_t total = n * c * plane;
  if (total == 0) return;
  normalize_images_kernel<<<grid_for(total), kThreads, 0, stream>>>(total, c, plane, x, mean, std,
                                                                    out);
  LNX_CUDA_CHECK(cudaGetLastError(), "normalize_images");
}

}  // namespace lnx::cuda
