#include "layers/flatten.h"

#include "autograd/ops.h"

namespace lnx {

Variable Flatten::forward(const Variable& x) {
  return flatten(x, start_axis_, end_axis_);
}

std::string Flatten::extra_repr() const {
  return str("start_dim=", start_axis_, ", end_dim=", end_axis_);
}

}  // namespace lnx
