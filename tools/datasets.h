// Datasets and loaders from the config's dataset section: CIFAR-10/100 (binary release or JPEG
// image folders), ImageNet / any image folder, MNIST and Fashion-MNIST IDX files.
#pragma once

#include <memory>
#include <string>

#include "data/dataset.h"
#include "tools/config.h"

namespace lnx::tools {

struct DataSplit {
  std::shared_ptr<const data::Dataset> train;  // augmented
  std::shared_ptr<const data::Dataset> test;   // deterministic
  int64_t num_classes = 0;
  int64_t in_channels = 3;
  int64_t image_size = 32;
};

// Accepted dataset.name values: cifar10, cifar100, imagenet, imagefolder, mnist,
// fashion_mnist (also fashion-mnist).
DataSplit make_datasets(const Config& config);

}  // namespace lnx::tools
