// The input pipeline's normalisation of uint8 batches (see Backend::normalize_images).
#include "core/cpu/cpu_backend.h"
#include "core/cpu/strided.h"

namespace lnx {

void CpuBackend::normalize_images(const Tensor& x, const Tensor& mean, const Tensor& std,
                                  const Tensor& out) {
  const int64_t n = x.size(0), c = x.size(1), plane = x.size(2) * x.size(3);
  const uint8_t* in = x.data<uint8_t>();  // (N, C, H, W)
  float* o = out.data<float>();           // (N, C, H, W)
  const float* m = mean.data<float>();    // (C)
  const float* s = std.data<float>();     // (C)
#pragma omp parallel for schedule(static) if (x.numel() >= cpu::kParallelGrain)
  for (int64_t row = 0; row < n * c; ++row) {
    const float mc = m[row % c], sc = s[row % c];
    const uint8_t* src = in + row * plane;
    float* dst = o + row * plane;
    // The same float operations as data::Normalize, so both paths give identical bits.
    for (int64_t i = 0; i < plane; ++i) dst[i] = (static_cast<float>(src[i]) / 255.0f - mc) / sc;
  }
}

}  // namespace lnx
