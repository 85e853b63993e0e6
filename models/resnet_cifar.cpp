#include "models/resnet_cifar.h"

#include "autograd/ops.h"
#include "layers/nn.h"

namespace lnx {
namespace {

class BasicBlockCifar final : public Module {
 public:
  BasicBlockCifar(int64_t in, int64_t planes, int64_t stride, LayerFactory& layers)
      : Module("BasicBlock"), stride_(stride), pad_channels_(planes != in ? (planes - in) / 2 : 0) {
    LNX_CHECK(planes == in || planes == 2 * in, "resnet_cifar: option-A shortcut needs planes ",
              planes, " to equal or double the ", in, " input channels");
    conv1_ = register_module("conv1", layers.conv2d(in, planes, 3, {stride, 1, 1, 1, false}));
    bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
    conv2_ = register_module("conv2", layers.conv2d(planes, planes, 3, {1, 1, 1, 1, false}));
    bn2_ = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  }

  Variable forward(const Variable& x) override {  // x: (N, in, H, W)
    Variable out = bn_relu(*bn1_, conv1_->forward(x));
    out = bn2_->forward(conv2_->forward(out));  // (N, planes, H/s, W/s)
    Variable shortcut = x;
    if (stride_ != 1) shortcut = subsample2d(shortcut, stride_);
    if (pad_channels_ > 0) shortcut = pad(shortcut, {0, 0, 0, 0, pad_channels_, pad_channels_});
    return add_relu(out, shortcut);
  }

 private:
  int64_t stride_, pad_channels_;
  ModulePtr conv1_, bn1_, conv2_, bn2_;
};

class ResNetCifar final : public Module {
 public:
  ResNetCifar(int64_t depth, int64_t width, int64_t num_classes, LayerFactory& layers)
      : Module("ResNetCifar") {
    LNX_CHECK(depth >= 8 && (depth - 2) % 6 == 0, "resnet_cifar: depth ", depth,
              " is not 6n+2 (expected 20, 32, 44, 56, 110, 1202, ...)");
    LNX_CHECK(width >= 1 && num_classes >= 1, "resnet_cifar: width ", width, " and classes ",
              num_classes, " must be positive");
    const int64_t n = (depth - 2) / 6;
    int64_t in = 16 * width;
    conv1_ = register_module("conv1", layers.conv2d(3, in, 3, {1, 1, 1, 1, false}));
    bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(in));
    for (int stage = 0; stage < 3; ++stage) {
      const int64_t planes = (16 << stage) * width;
      auto seq = std::make_shared<Sequential>();
      for (int64_t b = 0; b < n; ++b) {
        const int64_t stride = stage > 0 && b == 0 ? 2 : 1;
        seq->push_back(std::make_shared<BasicBlockCifar>(in, planes, stride, layers));
        in = planes;
      }
      stages_.push_back(register_module(str("layer", stage + 1), seq));
    }
    fc_ = register_module("fc", layers.linear(in, num_classes, true));
  }

  Variable forward(const Variable& x) override {  // x: (N, 3, H, W)
    Variable out = bn_relu(*bn1_, conv1_->forward(x));
    for (const ModulePtr& s : stages_) out = s->forward(out);
    return fc_->forward(global_avg_pool2d(out));  // (N, classes)
  }

 private:
  ModulePtr conv1_, bn1_, fc_;
  std::vector<ModulePtr> stages_;
};

}  // namespace

ModulePtr resnet_cifar(int64_t depth, int64_t width, int64_t num_classes, LayerFactory& layers) {
  return std::make_shared<ResNetCifar>(depth, width, num_classes, layers);
}

}  // namespace lnx
