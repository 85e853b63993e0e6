// Batch-norm kernels: placeholder until the batch-norm work lands.
#include "core/cpu/cpu_backend.h"

namespace lnx {

void CpuBackend::batch_norm_forward_train(const Tensor&, const Tensor&, const Tensor&, double,
                                          double, const Tensor&, const Tensor&, const Tensor&,
                                          const Tensor&, const Tensor&) {
  unsupported("batch_norm_forward_train");
}
void CpuBackend::batch_norm_forward_eval(const Tensor&, const Tensor&, const Tensor&,
                                         const Tensor&, const Tensor&, double, const Tensor&) {
  unsupported("batch_norm_forward_eval");
}
void CpuBackend::batch_norm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                     const Tensor&, const Tensor&, const Tensor&,
                                     const Tensor&) {
  unsupported("batch_norm_backward");
}

}  // namespace lnx
