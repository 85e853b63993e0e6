// A small CNN for 28x28 grey images (MNIST, Fashion-MNIST): two conv-BN-ReLU-pool stages and
// a two-layer head. It trains to about 90% on Fashion-MNIST in a few CPU minutes, which makes it
// the README's first job.
#pragma once

#include <cstdint>

#include "layers/layer_factory.h"

namespace lnx {

ModulePtr small_cnn(int64_t in_channels, int64_t num_classes, int64_t width, LayerFactory& layers);

}  // namespace lnx
