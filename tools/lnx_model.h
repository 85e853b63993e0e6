// A LilNetX network and its .lnx file, both ways: compress a trained network (or a checkpoint)
// into the file's sections, and rebuild the network from a file alone: the architecture
// section's config goes through the trainer's build_network_from_config, every other section
// is validated against the network so built, and only then are the latents decoded.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "compress/lnx_format.h"
#include "compress/lnx_tables.h"
#include "tools/config.h"
#include "tools/trainer.h"

namespace lnx::tools {

struct CompressOptions {
  int refit_steps = 0;  // Adam steps refitting each prior to the frozen latents; 0: none
  double refit_lr = 1e-2;
  bool float16 = false;     // biases and batch-norm tensors as float16
  bool with_prior = false;  // store the prior's parameters (not needed to decode)
  TableSource tables = TableSource::Auto;
  uint32_t version = kLnxVersion;  // 1 and 2 write older layouts, for older readers
  // Version 3: code a group's slice flags first where that makes it smaller (docs/format.md).
  bool slice_occupancy = true;
  // Version 4: store each batch norm as its evaluation's scale and shift (half the floats; the
  // same logits, but the batch statistics of training are gone, so not for fine-tuning).
  bool fold_batch_norm = true;
  // The architecture section's config: the network and dataset sections (what rebuilds the
  // network and finds its test data), or with full_config every section, training's included.
  bool full_config = false;
};

struct GroupCompression {
  std::string name;
  double prior_bits = 0;         // self-information of the latents under the prior (after refit)
  double prior_bits_before = 0;  // before any refit
  double coded_bits = 0;         // ideal code length under the chosen tables (flags included)
  double table_bits = 0;
  bool slice_occupancy = false;  // coded as slice flags, then the non-zero slices' values
  double plain_bits = 0;         // coded + table bits without slice flags, for comparison
  int64_t prior_tables = 0, histogram_tables = 0;
};

struct Compressed {
  LnxModel file;
  std::vector<GroupCompression> groups;
};

// `model` and `groups` as build_network_from_config(config, shape) builds them.
Compressed compress_network(const Config& config, const DataShape& shape, const Module& model,
                            const GroupSet& groups, const CompressOptions& options = {});
// A trainer checkpoint: the network is rebuilt from its stored config and its state loaded.
// The data set is opened once to learn the number of classes and the image size.
Compressed compress_checkpoint(const std::string& path, const CompressOptions& options = {});

struct LoadOptions {
  int64_t max_width = 16;  // network.width beyond this is refused before anything is built
};

struct LoadedNetwork {
  Config config;
  DataShape shape;
  BuiltNetwork net;
  std::map<std::string, std::vector<int32_t>> latents;  // decoded integers per latent layer
};

LoadedNetwork load_lnx_network(const LnxModel& file, const LoadOptions& options = {});

// Decoded float weights under PyTorch-style names: each latent layer's "weight" is its decoded
// W (not the latents); biases and batch-norm tensors as they are; decoders and priors left out.
std::map<std::string, Tensor> decoded_weights(const LoadedNetwork& loaded);

// The state-dict names of the network's latents (module path + ".weight").
std::map<std::string, const LatentLayer*> latent_layers_by_name(const Module& model);

}  // namespace lnx::tools
