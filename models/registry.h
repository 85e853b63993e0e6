// The model zoo by name. Every network is built through a LayerFactory, so the same name gives
// the float network (vanilla) or, with compress/'s factory, its LilNetX form.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compress/compression_group.h"
#include "compress/latent_factory.h"
#include "layers/layer_factory.h"

namespace lnx {

struct ModelSpec {
  std::string name;  // e.g. "resnet20", "vgg16_bn", "resnet50", "mobilenetv2"
  int64_t num_classes = 10;
  double width = 1;         // channel multiplier (CIFAR ResNets: integer; MobileNet-V2: real)
  int64_t in_channels = 3;  // small_cnn only: 1 for MNIST-style images
  bool cifar_stem = true;   // MobileNet-V2: stride-1 stem for 32x32 inputs
};

ModulePtr build_model(const ModelSpec& spec, LayerFactory& layers);
// The float network with the architecture's usual initialisation; `fan` is the Kaiming rule's
// fan for convolutions (and for the classifier where the architecture uses Kaiming there).
ModulePtr build_float_model(const ModelSpec& spec, Generator* gen = nullptr,
                            init::FanMode fan = init::FanMode::FanOut);
// How the architecture initialises its float linear layers.
LinearInit linear_init_for(const std::string& name);
std::vector<std::string> model_names();

// The LilNetX form of a network: latent layers in compression groups, the groups registered on
// the network as its child "groups".
struct CompressedNetwork {
  ModulePtr net;
  std::shared_ptr<GroupSet> groups;
};
// The reference initialisation for the architecture (max_fan, decoder variance divisors, VGG's
// smaller FC bound); boundary is b of method.md section 1.
LatentInit latent_init_for(const ModelSpec& spec, double boundary);
CompressedNetwork build_compressed_model(const ModelSpec& spec, const LatentInit& init,
                                         Generator* gen = nullptr);

}  // namespace lnx
