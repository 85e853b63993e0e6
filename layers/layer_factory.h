// How an architecture creates its weight layers. Each network of the model zoo is written once
// against this interface and built either from ordinary float layers (FloatLayerFactory, here)
// or from LilNetX latent layers bound to their compression groups (compress/).
#pragma once

#include <cstdint>
#include <string>

#include "layers/conv2d.h"
#include "layers/init.h"
#include "layers/module.h"

namespace lnx {

class LayerFactory {
 public:
  virtual ~LayerFactory() = default;
  // `group` names the compression group the layer belongs to; empty means the default for its
  // kind ("conv3x3", "conv1x1", "conv7x7", "dense"). Float layers ignore it.
  virtual ModulePtr conv2d(int64_t in, int64_t out, int64_t kernel_size,
                           const Conv2dOptions& options, const std::string& group = "") = 0;
  virtual ModulePtr linear(int64_t in, int64_t out, bool bias, const std::string& group = "") = 0;
};

// The group a layer falls into by default.
std::string default_group(int64_t kernel_size, bool dense);

// Weight initialisations the zoo's networks use for their float layers.
enum class LinearInit {
  KaimingNormalFanOut,  // the CIFAR ResNets and VGG of the LilNetX code
  PyTorchDefault,       // torchvision's ImageNet ResNets
  Normal001,            // torchvision's MobileNet-V2: N(0, 0.01), zero bias
};

class FloatLayerFactory final : public LayerFactory {
 public:
  // Convolutions: Kaiming normal with ReLU gain, fan_out for all zoo networks unless `fan` says
  // otherwise (it also applies to KaimingNormalFanOut linear layers); biases zero.
  explicit FloatLayerFactory(LinearInit linear_init, Generator* gen = nullptr,
                             init::FanMode fan = init::FanMode::FanOut)
      : linear_init_(linear_init), gen_(gen), fan_(fan) {}
  ModulePtr conv2d(int64_t in, int64_t out, int64_t kernel_size, const Conv2dOptions& options,
                   const std::string& group = "") override;
  ModulePtr linear(int64_t in, int64_t out, bool bias, const std::string& group = "") override;

 private:
  LinearInit linear_init_;
  Generator* gen_;
  init::FanMode fan_;
};

}  // namespace lnx
