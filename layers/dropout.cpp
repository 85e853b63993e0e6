#include "layers/dropout.h"

#include "autograd/ops.h"

namespace lnx {

Dropout::Dropout(double p, Generator* gen) : Module("Dropout"), p_(p), gen_(gen) {
  // p = 1 would scale by 1/0; PyTorch returns zeros there, which no network wants anyway.
  LNX_CHECK(p >= 0.0 && p < 1.0, "Dropout: p is ", p, ", expected in [0, 1)");
}

Variable Dropout::forward(const Variable& x) {
  return dropout(x, p_, is_training(), gen_);
}

std::string Dropout::extra_repr() const {
  return str("p=", p_);
}

}  // namespace lnx
