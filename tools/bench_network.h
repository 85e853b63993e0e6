// Network-level timings for `lilnetx bench`: one ResNet-20 training step (forward,
// cross-entropy, backward, Adam step) or inference pass, measured like
// shared/peers/torch_resnet20_step.py (median of reps after 5 warm-ups, random inputs).
#pragma once

#include <cstdint>
#include <string>

namespace lnx::tools {

struct StepTiming {
  double median_ms = 0, min_ms = 0, max_ms = 0;
  double images_per_second = 0;
  double peak_mib = 0;  // peak tensor memory held by the caching allocator during the steps
};

// mode: "train" or "infer". lilnetx: the LilNetX objective of the peer script (latents decoded
// by shared decoders, rate with noise, slice l2 and L2 decay, a second Adam for the priors).
// device: "cpu" or "cuda[:i]"; the model and inputs live there and each timed step ends with
// the device's synchronize(), so GPU times include the queued kernels.
StepTiming bench_resnet20(int batch, int width, const std::string& mode, int reps,
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
