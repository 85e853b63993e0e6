#include "layers/activation.h"

#include "autograd/ops.h"

namespace lnx {

Variable ReLU::forward(const Variable& x) {
  return relu(x);
}

Variable ReLU6::forward(const Variable& x) {
  return relu6(x);
}

}  // namespace lnx
