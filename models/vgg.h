// VGG-11/13/16/19 (Simonyan & Zisserman 2015), with or without batch norm, in the CIFAR form of
// the LilNetX code: 3x3 convolutions and 2x2 max pools down to 1x1x512, then a
// 512-256-256-classes head with ReLU and dropout. The head's three linear layers each form
// their own compression group (dense1..dense3).
#pragma once

#include <cstdint>

#include "layers/layer_factory.h"

namespace lnx {

ModulePtr vgg(int64_t depth, bool batch_norm, int64_t num_classes, LayerFactory& layers,
              double dropout = 0.5);

}  // namespace lnx
