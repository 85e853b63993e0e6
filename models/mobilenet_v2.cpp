#include "models/mobilenet_v2.h"

#include <algorithm>
#include <cmath>

#include "autograd/ops.h"
#include "layers/nn.h"

namespace lnx {
namespace {

// torchvision's _make_divisible: round to a multiple of 8, never more than 10% below.
int64_t make_divisible(double v, int64_t divisor = 8) {
  int64_t r =
      std::max<int64_t>(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (static_cast<double>(r) < 0.9 * v) r += divisor;
  return r;
}

std::shared_ptr<Sequential> conv_bn_relu6(int64_t in, int64_t out, int64_t k, int64_t stride,
                                          int64_t groups, LayerFactory& layers,
                                          const std::string& group = "") {
  auto s = std::make_shared<Sequential>();
  s->push_back(layers.conv2d(in, out, k, {stride, (k - 1) / 2, 1, groups, false}, group));
  s->push_back(std::make_shared<BatchNorm2d>(out));
  s->push_back(std::make_shared<ReLU6>());
  return s;
}

class InvertedResidual final : public Module {
 public:
  InvertedResidual(int64_t in, int64_t out, int64_t stride, int64_t expand, LayerFactory& layers)
      : Module("InvertedResidual"), residual_(stride == 1 && in == out) {
    const int64_t hidden = in * expand;
    conv_ = register_module("conv", std::make_shared<Sequential>());
    if (expand != 1) conv_->push_back(conv_bn_relu6(in, hidden, 1, 1, 1, layers));
    conv_->push_back(conv_bn_relu6(hidden, hidden, 3, stride, hidden, layers));
    conv_->push_back(layers.conv2d(hidden, out, 1, {1, 0, 1, 1, false}));
    conv_->push_back(std::make_shared<BatchNorm2d>(out));
  }
  Variable forward(const Variable& x) override {
    const Variable y = conv_->forward(x);
    return residual_ ? add(x, y) : y;
  }

 private:
  bool residual_;
  std::shared_ptr<Sequential> conv_;
};

class MobileNetV2 final : public Module {
 public:
  MobileNetV2(double width, int64_t num_classes, bool cifar_stem, LayerFactory& layers)
      : Module("MobileNetV2") {
    LNX_CHECK(width > 0, "mobilenet_v2: width multiplier must be positive, got ", width);
    // (expansion t, channels c, repeats n, first stride s) per stage.
    const int64_t settings[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                    {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    int64_t in = make_divisible(32 * width);
    const int64_t last = make_divisible(1280 * std::max(1.0, width));
    features_ = register_module("features", std::make_shared<Sequential>());
    features_->push_back(conv_bn_relu6(3, in, 3, cifar_stem ? 1 : 2, 1, layers, "first"));
    for (const auto& s : settings) {
      const int64_t out = make_divisible(static_cast<double>(s[1]) * width);
      for (int64_t i = 0; i < s[2]; ++i) {
        features_->push_back(
            std::make_shared<InvertedResidual>(in, out, i == 0 ? s[3] : 1, s[0], layers));
        in = out;
      }
    }
    features_->push_back(conv_bn_relu6(in, last, 1, 1, 1, layers));
    classifier_ = register_module("classifier", std::make_shared<Sequential>());
    classifier_->push_back(std::make_shared<Dropout>(0.2));
    classifier_->push_back(layers.linear(last, num_classes, true));
  }

  Variable forward(const Variable& x) override {  // x: (N, 3, H, W)
    return classifier_->forward(global_avg_pool2d(features_->forward(x)));
  }

 private:
  std::shared_ptr<Sequential> features_, classifier_;
};

}  // namespace

ModulePtr mobilenet_v2(double width, int64_t num_classes, bool cifar_stem, LayerFactory& layers) {
  return std::make_shared<MobileNetV2>(width, num_classes, cifar_stem, layers);
}

}  // namespace lnx
