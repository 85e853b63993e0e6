#include "layers/linear.h"

#include "autograd/ops.h"
#include "layers/init.h"

namespace lnx {

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, Generator* gen)
    : Module("Linear"), in_features_(in_features), out_features_(out_features) {
  LNX_CHECK(in_features > 0 && out_features > 0, "Linear: in_features ", in_features,
            " and out_features ", out_features, " must both be positive");
  weight_ = register_parameter("weight", Tensor::empty({out_features, in_features}));
  bias_ = register_parameter("bias", bias ? Tensor::empty({out_features}) : Tensor());
  init::default_weight_and_bias_(weight_.data(), bias_.defined() ? bias_.data() : Tensor(), gen);
}

Variable Linear::forward(const Variable& x) {
  LNX_CHECK(x.dim() >= 1 && x.size(-1) == in_features_, "Linear: input has shape ",
            to_string(x.shape()), ", expected a last axis of in_features = ", in_features_);
  // matmul takes (M, K): leading axes are folded into M and restored after.
  const bool fold = x.dim() != 2;
  const Variable x2 = fold ? reshape(x, {-1, in_features_}) : x;
  Variable y = matmul(x2, transpose(weight_, 0, 1));  // (M, out)
  if (bias_.defined()) y = y + bias_;
  if (fold) {
    Shape out_shape = x.shape();
    out_shape.back() = out_features_;
    y = reshape(y, out_shape);
  }
  return y;
}

std::string Linear::extra_repr() const {
  return str("in_features=", in_features_, ", out_features=", out_features_,
             ", bias=", bias_.defined() ? "True" : "False");
}

}  // namespace lnx
