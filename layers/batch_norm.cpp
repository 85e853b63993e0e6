#include "layers/batch_norm.h"

#include "autograd/ops.h"

namespace lnx {

BatchNorm2d::BatchNorm2d(int64_t num_features, double eps, double momentum, bool affine)
    : Module("BatchNorm2d"), num_features_(num_features), eps_(eps), momentum_(momentum) {
  LNX_CHECK(num_features > 0, "BatchNorm2d: num_features is ", num_features, ", expected > 0");
  LNX_CHECK(eps > 0.0, "BatchNorm2d: eps is ", eps, ", expected > 0");
  LNX_CHECK(momentum >= 0.0 && momentum <= 1.0, "BatchNorm2d: momentum is ", momentum,
            ", expected in [0, 1]");
  weight_ = register_parameter("weight", affine ? ones({num_features}) : Tensor());
  bias_ = register_parameter("bias", affine ? zeros({num_features}) : Tensor());
  register_buffer("running_mean", zeros({num_features}));
  register_buffer("running_var", ones({num_features}));
  register_buffer("num_batches_tracked", zeros({}, DType::Int64));
}

Variable BatchNorm2d::forward(const Variable& x) {
  return run(x, false);
}

Variable BatchNorm2d::forward_relu(const Variable& x) {
  return run(x, true);
}

Variable BatchNorm2d::run(const Variable& x, bool relu) {
  LNX_CHECK(x.dim() == 4 && x.size(1) == num_features_, "BatchNorm2d: input has shape ",
            to_string(x.shape()), ", expected (N, ", num_features_, ", H, W)");
  if (is_training()) {
    // Reading the counter back from a GPU would sync every layer of every step, so a host copy
    // is kept and re-read only when someone else wrote the buffer (a load, a device move).
    const Tensor count = buffer("num_batches_tracked");
    if (count.storage().get() != tracked_storage_ || count.version() != tracked_version_) {
      tracked_ = static_cast<int64_t>(count.item());
    }
    ++tracked_;
    count.fill_(static_cast<double>(tracked_));
    tracked_storage_ = count.storage().get();
    tracked_version_ = count.version();
  }
  if (relu)
    return batch_norm_relu(x, weight_, bias_, running_mean(), running_var(), is_training(),
                           momentum_, eps_);
  return batch_norm(x, weight_, bias_, running_mean(), running_var(), is_training(), momentum_,
                    eps_);
}

int64_t BatchNorm2d::num_batches_tracked() const {
  return static_cast<int64_t>(buffer("num_batches_tracked").item());
}

std::string BatchNorm2d::extra_repr() const {
  return str(num_features_, ", eps=", eps_, ", momentum=", momentum_,
             ", affine=", weight_.defined() ? "True" : "False");
}

Variable bn_relu(Module& bn, const Variable& x) {
  if (auto* b = dynamic_cast<BatchNorm2d*>(&bn)) return b->forward_relu(x);
  return relu(bn.forward(x));
}

}  // namespace lnx
