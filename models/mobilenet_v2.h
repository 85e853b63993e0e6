// MobileNet-V2 (Sandler et al. 2018) as torchvision builds it: inverted residual blocks with
// depthwise 3x3 convolutions and linear bottlenecks, a width multiplier with channel counts
// rounded to multiples of 8, ReLU6, dropout 0.2 before the classifier. The ImageNet stem has
// stride 2; the CIFAR stem stride 1. For compression, the stem is its own group ("first").
#pragma once

#include <cstdint>

#include "layers/layer_factory.h"

namespace lnx {

ModulePtr mobilenet_v2(double width, int64_t num_classes, bool cifar_stem, LayerFactory& layers);

}  // namespace lnx
