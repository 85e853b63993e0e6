// How fast a DataLoader delivers a dataset (decode + augment + batch), for `lilnetx bench`.
#pragma once

#include <cstdint>

#include "data/dataset.h"

namespace lnx::data {

struct ThroughputOptions {
  int num_workers = 2;
  int64_t batch_size = 128;
  int64_t max_images = 10000;  // stops after the batch that reaches this many
  uint64_t seed = 0;
};

// Images per second through a shuffled DataLoader over `dataset` (which should include its
// transform, e.g. a TransformedDataset), counting from start_epoch to the last batch received.
double measure_loader_images_per_second(const Dataset& dataset,
                                        const ThroughputOptions& options = {});

}  // namespace lnx::data
