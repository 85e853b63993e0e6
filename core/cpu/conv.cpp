// Convolution kernels: placeholder until the convolution work lands.
#include "core/cpu/cpu_backend.h"

namespace lnx {

void CpuBackend::conv2d_forward(const Tensor&, const Tensor&, const Tensor&, const Conv2dParams&,
                                const Tensor&) {
  unsupported("conv2d_forward");
}
void CpuBackend::conv2d_backward_input(const Tensor&, const Tensor&, const Conv2dParams&,
                                       const Tensor&) {
  unsupported("conv2d_backward_input");
}
void CpuBackend::conv2d_backward_weight(const Tensor&, const Tensor&, const Conv2dParams&,
                                        const Tensor&) {
  unsupported("conv2d_backward_weight");
}

}  // namespace lnx
