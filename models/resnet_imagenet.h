// ImageNet ResNets (He et al. 2016) as torchvision builds them (v1.5: stride on the 3x3 of a
// bottleneck): a 7x7 stride-2 stem and 3x3 max pool, four stages of BasicBlocks (18, 34) or
// Bottlenecks (50), 1x1 projection shortcuts, global average pooling and `fc`. Parameter names
// match torchvision's, so its state dicts line up.
#pragma once

#include <cstdint>

#include "layers/layer_factory.h"

namespace lnx {

ModulePtr resnet_imagenet(int64_t depth, int64_t num_classes, LayerFactory& layers);

}  // namespace lnx
