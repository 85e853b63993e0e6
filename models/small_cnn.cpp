#include "models/small_cnn.h"

#include "layers/nn.h"

namespace lnx {

ModulePtr small_cnn(int64_t in_channels, int64_t num_classes, int64_t width, LayerFactory& layers) {
  LNX_CHECK(in_channels >= 1 && num_classes >= 1 && width >= 1, "small_cnn: in_channels ",
            in_channels, ", classes ", num_classes, " and width ", width, " must be positive");
  const int64_t c1 = 16 * width, c2 = 32 * width;
  auto net = std::make_shared<Sequential>();
  net->push_back(layers.conv2d(in_channels, c1, 3, {1, 1, 1, 1, false}));
  net->push_back(std::make_shared<BatchNorm2d>(c1));
  net->push_back(std::make_shared<ReLU>());
  net->push_back(std::make_shared<MaxPool2d>(2, 2));  // 28 -> 14
  net->push_back(layers.conv2d(c1, c2, 3, {1, 1, 1, 1, false}));
  net->push_back(std::make_shared<BatchNorm2d>(c2));
  net->push_back(std::make_shared<ReLU>());
  net->push_back(std::make_shared<MaxPool2d>(2, 2));  // 14 -> 7
  net->push_back(std::make_shared<Flatten>());
  net->push_back(layers.linear(c2 * 7 * 7, 128, true));
  net->push_back(std::make_shared<ReLU>());
  net->push_back(layers.linear(128, num_classes, true));
  return net;
}

}  // namespace lnx
