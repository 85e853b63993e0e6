// Softmax and loss kernels: placeholder until that work lands.
#include "core/cpu/cpu_backend.h"

namespace lnx {

void CpuBackend::log_softmax_forward(const Tensor&, const Tensor&) {
  unsupported("log_softmax_forward");
}
void CpuBackend::log_softmax_backward(const Tensor&, const Tensor&, const Tensor&) {
  unsupported("log_softmax_backward");
}
void CpuBackend::nll_loss_forward(const Tensor&, const Tensor&, const Tensor&) {
  unsupported("nll_loss_forward");
}
void CpuBackend::nll_loss_backward(const Tensor&, const Tensor&, const Tensor&) {
  unsupported("nll_loss_backward");
}

}  // namespace lnx
