#include "layers/layer_factory.h"

#include "layers/init.h"
#include "layers/linear.h"

namespace lnx {

std::string default_group(int64_t kernel_size, bool dense) {
  if (dense) return "dense";
  return str("conv", kernel_size, "x", kernel_size);
}

ModulePtr FloatLayerFactory::conv2d(int64_t in, int64_t out, int64_t kernel_size,
                                    const Conv2dOptions& options, const std::string&) {
  auto conv = std::make_shared<Conv2d>(in, out, kernel_size, options, gen_);
  init::kaiming_normal_(conv->weight().data(), 0.0, fan_, "relu", gen_);
  if (conv->bias().defined()) init::zeros_(conv->bias().data());
  return conv;
}

ModulePtr FloatLayerFactory::linear(int64_t in, int64_t out, bool bias, const std::string&) {
  auto fc = std::make_shared<Linear>(in, out, bias, gen_);  // PyTorch's default init
  switch (linear_init_) {
    case LinearInit::PyTorchDefault:
      break;
    case LinearInit::KaimingNormalFanOut:
      init::kaiming_normal_(fc->weight().data(), 0.0, fan_, "relu", gen_);
      break;
    case LinearInit::Normal001:
      init::normal_(fc->weight().data(), 0.0, 0.01, gen_);
      if (fc->bias().defined()) init::zeros_(fc->bias().data());
      break;
  }
  return fc;
}

}  // namespace lnx
