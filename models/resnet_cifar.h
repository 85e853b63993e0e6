// CIFAR ResNets (He et al. 2016, section 4.2): a 3x3 stem, three stages of n BasicBlocks with
// 16, 32, 64 channels (times a width multiplier), n = (depth - 2) / 6, option-A shortcuts
// (stride-2 subsampling plus zero channel padding), global average pooling and a linear head.
// Parameter names follow the LilNetX code: conv1, bn1, layer1.0.conv1, ..., fc.
#pragma once

#include <cstdint>

#include "layers/layer_factory.h"

namespace lnx {

ModulePtr resnet_cifar(int64_t depth, int64_t width, int64_t num_classes, LayerFactory& layers);

}  // namespace lnx
