// Builds a zoo network in its LilNetX form: every convolution and linear layer becomes a latent
// layer bound to its compression group, created on first use with its decoder and prior, and
// initialised as the reference does (method.md section 1).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "compress/compression_group.h"
#include "layers/layer_factory.h"

namespace lnx {

struct LatentInit {
  double boundary = 3.0;  // b in var = 24 / max_fan / ((2b+1)^2 - 1)
  int64_t max_fan = 64;   // the network's largest fan (64 * width for CIFAR ResNets)
  bool fan_out = true;    // the fan of each layer's latent bound: fan_out or fan_in
  DecoderInit decoder_init = DecoderInit::Normal;
  bool shift = false;  // decoder shift: off, so zero slices decode to zero
  // Per group: the decoder's variance is var / divisor (VGG's conv3x3 uses 3).
  std::map<std::string, double> decoder_divisor;
  double dense_bound_divisor = 1.0;  // VGG divides its FC layers' latent bound by 5
  bool compress_first = true;        // network.first: the first convolution compressed too
};

class LatentLayerFactory final : public LayerFactory {
 public:
  LatentLayerFactory(LatentInit init, Generator* gen);
  ModulePtr conv2d(int64_t in, int64_t out, int64_t kernel_size, const Conv2dOptions& options,
                   const std::string& group = "") override;
  ModulePtr linear(int64_t in, int64_t out, bool bias, const std::string& group = "") override;
  // The groups made so far; register them on the network (see attach_groups).
  const std::shared_ptr<GroupSet>& groups() const { return groups_; }

 private:
  CompressionGroup& group(const std::string& name, int64_t slice_size);

  LatentInit init_;
  Generator* gen_;
  double variance_;
  bool first_conv_seen_ = false;
  std::shared_ptr<GroupSet> groups_ = std::make_shared<GroupSet>();
};

}  // namespace lnx
