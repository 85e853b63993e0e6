// Pooling kernels: placeholder until the pooling work lands.
#include "core/cpu/cpu_backend.h"

namespace lnx {

void CpuBackend::max_pool2d_forward(const Tensor&, const Pool2dParams&, const Tensor&,
                                    const Tensor&) {
  unsupported("max_pool2d_forward");
}
void CpuBackend::max_pool2d_backward(const Tensor&, const Tensor&, const Tensor&) {
  unsupported("max_pool2d_backward");
}
void CpuBackend::avg_pool2d_forward(const Tensor&, const Pool2dParams&, const Tensor&) {
  unsupported("avg_pool2d_forward");
}
void CpuBackend::avg_pool2d_backward(const Tensor&, const Pool2dParams&, const Tensor&) {
  unsupported("avg_pool2d_backward");
}

}  // namespace lnx
