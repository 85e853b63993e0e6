#include "models/vgg.h"

#include <vector>

#include "autograd/ops.h"
#include "layers/nn.h"

namespace lnx {
namespace {

class Vgg final : public Module {
 public:
  Vgg(const std::vector<int64_t>& cfg, bool batch_norm, int64_t num_classes, LayerFactory& layers,
      double dropout)
      : Module("VGG") {
    features_ = register_module("features", std::make_shared<Sequential>());
    int64_t in = 3;
    for (int64_t v : cfg) {
      if (v == 0) {  // a max pool
        features_->push_back(std::make_shared<MaxPool2d>(2, 2));
        continue;
      }
      features_->push_back(layers.conv2d(in, v, 3, {1, 1, 1, 1, true}));
      if (batch_norm) features_->push_back(std::make_shared<BatchNorm2d>(v));
      features_->push_back(std::make_shared<ReLU>());
      in = v;
    }
    classifier_ = register_module("classifier", std::make_shared<Sequential>());
    classifier_->push_back(layers.linear(512, 256, true, "dense1"));
    classifier_->push_back(std::make_shared<ReLU>());
    classifier_->push_back(std::make_shared<Dropout>(dropout));
    classifier_->push_back(layers.linear(256, 256, true, "dense2"));
    classifier_->push_back(std::make_shared<ReLU>());
    classifier_->push_back(std::make_shared<Dropout>(dropout));
    classifier_->push_back(layers.linear(256, num_classes, true, "dense3"));
  }

  Variable forward(const Variable& x) override {  // x: (N, 3, 32, 32)
    const Variable f = features_->forward(x);     // (N, 512, 1, 1)
    LNX_CHECK(f.size(1) * f.size(2) * f.size(3) == 512, "vgg: features of shape ",
              to_string(f.shape()), " for a 512-wide head; expected 32x32 inputs");
    return classifier_->forward(flatten(f, 1));
  }

 private:
  std::shared_ptr<Sequential> features_, classifier_;
};

}  // namespace

ModulePtr vgg(int64_t depth, bool batch_norm, int64_t num_classes, LayerFactory& layers,
              double dropout) {
  // Channel counts per configuration; 0 marks a max pool.
  std::vector<int64_t> cfg;
  switch (depth) {
    case 11:
      cfg = {64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0};
      break;
    case 13:
      cfg = {64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0};
      break;
    case 16:
      cfg = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};
      break;
    case 19:
      cfg = {64,  64,  0,   128, 128, 0,   256, 256, 256, 256, 0,
             512, 512, 512, 512, 0,   512, 512, 512, 512, 0};
      break;
    default:
      fail("vgg: depth ", depth, " is not one of 11, 13, 16, 19");
  }
  return std::make_shared<Vgg>(cfg, batch_norm, num_classes, layers, dropout);
}

}  // namespace lnx
