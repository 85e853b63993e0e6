#include "models/resnet_imagenet.h"

#include "autograd/ops.h"
#include "layers/nn.h"

namespace lnx {
namespace {

// conv1x1 + BN projection when the shape changes, as torchvision's `downsample`.
std::shared_ptr<Sequential> projection(int64_t in, int64_t out, int64_t stride,
                                       LayerFactory& layers) {
  if (stride == 1 && in == out) return nullptr;
  auto down = std::make_shared<Sequential>();
  down->push_back(layers.conv2d(in, out, 1, {stride, 0, 1, 1, false}));
  down->push_back(std::make_shared<BatchNorm2d>(out));
  return down;
}

class BasicBlock final : public Module {
 public:
  static constexpr int64_t kExpansion = 1;
  BasicBlock(int64_t in, int64_t planes, int64_t stride, LayerFactory& layers)
      : Module("BasicBlock") {
    conv1_ = register_module("conv1", layers.conv2d(in, planes, 3, {stride, 1, 1, 1, false}));
    bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
    conv2_ = register_module("conv2", layers.conv2d(planes, planes, 3, {1, 1, 1, 1, false}));
    bn2_ = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
    if (auto d = projection(in, planes, stride, layers)) down_ = register_module("downsample", d);
  }
  Variable forward(const Variable& x) override {
    Variable out = bn_relu(*bn1_, conv1_->forward(x));
    out = bn2_->forward(conv2_->forward(out));
    return add_relu(out, down_ ? down_->forward(x) : x);
  }

 private:
  ModulePtr conv1_, bn1_, conv2_, bn2_, down_;
};

class Bottleneck final : public Module {
 public:
  static constexpr int64_t kExpansion = 4;
  Bottleneck(int64_t in, int64_t planes, int64_t stride, LayerFactory& layers)
      : Module("Bottleneck") {
    const int64_t out = planes * kExpansion;
    conv1_ = register_module("conv1", layers.conv2d(in, planes, 1, {1, 0, 1, 1, false}));
    bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
    conv2_ = register_module("conv2", layers.conv2d(planes, planes, 3, {stride, 1, 1, 1, false}));
    bn2_ = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
    conv3_ = register_module("conv3", layers.conv2d(planes, out, 1, {1, 0, 1, 1, false}));
    bn3_ = register_module("bn3", std::make_shared<BatchNorm2d>(out));
    if (auto d = projection(in, out, stride, layers)) down_ = register_module("downsample", d);
  }
  Variable forward(const Variable& x) override {
    Variable out = bn_relu(*bn1_, conv1_->forward(x));
    out = bn_relu(*bn2_, conv2_->forward(out));
    out = bn3_->forward(conv3_->forward(out));
    return add_relu(out, down_ ? down_->forward(x) : x);
  }

 private:
  ModulePtr conv1_, bn1_, conv2_, bn2_, conv3_, bn3_, down_;
};

class ResNetImageNet final : public Module {
 public:
  template <typename Block>
  ResNetImageNet(const Block*, const std::vector<int64_t>& blocks, int64_t num_classes,
                 LayerFactory& layers)
      : Module("ResNet") {
    conv1_ = register_module("conv1", layers.conv2d(3, 64, 7, {2, 3, 1, 1, false}));
    bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(64));
    pool_ = register_module("maxpool", std::make_shared<MaxPool2d>(3, 2, 1));
    int64_t in = 64;
    for (size_t stage = 0; stage < blocks.size(); ++stage) {
      const int64_t planes = 64 << stage;
      auto seq = std::make_shared<Sequential>();
      for (int64_t b = 0; b < blocks[stage]; ++b) {
        const int64_t stride = stage > 0 && b == 0 ? 2 : 1;
        seq->push_back(std::make_shared<Block>(in, planes, stride, layers));
        in = planes * Block::kExpansion;
      }
      stages_.push_back(register_module(str("layer", stage + 1), seq));
    }
    fc_ = register_module("fc", layers.linear(in, num_classes, true));
  }

  Variable forward(const Variable& x) override {  // x: (N, 3, H, W)
    Variable out = pool_->forward(bn_relu(*bn1_, conv1_->forward(x)));
    for (const ModulePtr& s : stages_) out = s->forward(out);
    return fc_->forward(global_avg_pool2d(out));
  }

 private:
  ModulePtr conv1_, bn1_, pool_, fc_;
  std::vector<ModulePtr> stages_;
};

}  // namespace

ModulePtr resnet_imagenet(int64_t depth, int64_t num_classes, LayerFactory& layers) {
  switch (depth) {
    case 18:
      return std::make_shared<ResNetImageNet>(
          static_cast<BasicBlock*>(nullptr), std::vector<int64_t>{2, 2, 2, 2}, num_classes, layers);
    case 34:
      return std::make_shared<ResNetImageNet>(
          static_cast<BasicBlock*>(nullptr), std::vector<int64_t>{3, 4, 6, 3}, num_classes, layers);
    case 50:
      return std::make_shared<ResNetImageNet>(
          static_cast<Bottleneck*>(nullptr), std::vector<int64_t>{3, 4, 6, 3}, num_classes, layers);
    default:
      fail("resnet_imagenet: depth ", depth, " is not one of 18, 34, 50");
  }
}

}  // namespace lnx
