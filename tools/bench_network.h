// Network-level timings for `lilnetx bench`: one training step (forward, cross-entropy,
// backward, Adam step) or inference pass of a zoo network, measured like
// shared/peers/torch_resnet20_step.py and scripts/peer-network-step.py (median of reps after 5
// warm-ups, random inputs).
#pragma once

#include <cstdint>
#include <string>

namespace lnx::tools {

struct StepTiming {
  double median_ms = 0, min_ms = 0, max_ms = 0;
  double images_per_second = 0;
  double peak_mib = 0;  // peak tensor memory held by the caching allocator during the steps
};

// The network a step is timed on: any zoo name. image_size 0 takes the network's own data: 224
// pixels and 1000 classes for the ImageNet networks (resnet18/34/50, mobilenetv2), 32 pixels
// and 10 classes for the others. MobileNet-V2 takes its CIFAR stem at 64 pixels or fewer, as
// the trainer builds it.
struct BenchNetwork {
  std::string name = "resnet20";
  int width = 1;
  int64_t image_size = 0;
};

// mode: "train" or "infer". lilnetx: the LilNetX objective of the peer script (latents decoded
// by shared decoders, rate with noise, slice l2 on conv3x3, L2 decay on conv1x1, conv3x3 and
// dense, a second Adam for the priors). device: "cpu" or "cuda[:i]"; the model and inputs live
// there and each timed step ends with the device's synchronize(), so GPU times include the
// queued kernels.
StepTiming bench_network(const BenchNetwork& network, int batch, const std::string& mode, int reps,
                         bool lilnetx = false, const std::string& device = "cpu");

struct SkipTiming {
  StepTiming skipping, dense;           // zero kernel slices skipped / the dense kernels throughout
  int64_t slices = 0, zero_slices = 0;  // of the decoded conv weights at the start
};

// The LilNetX training step (as above, CPU) of a ResNet-20 whose state comes from a LilNetX
// training checkpoint, so the convolutions see its trained slice sparsity: timed with the latent
// convolutions skipping zero slices and with the dense kernels, alternating step by step.
SkipTiming bench_resnet20_checkpoint(const std::string& path, int batch, int reps);

}  // namespace lnx::tools
