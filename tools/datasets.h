// Datasets and loaders from the config's dataset section: CIFAR-10/100 (binary release or JPEG
// image folders), ImageNet / any image folder, MNIST and Fashion-MNIST IDX files.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "tools/config.h"

namespace lnx::tools {

struct DataSplit {
  std::shared_ptr<const data::Dataset> train;  // augmented
  std::shared_ptr<const data::Dataset> test;   // deterministic
  int64_t num_classes = 0;
  int64_t in_channels = 3;
  int64_t image_size = 32;
  // Set when the loaders deliver uint8 images that are normalised where the network runs
  // (dataset.normalize_on_device); empty when they deliver normalised float32.
  std::vector<float> device_mean, device_std;
};

// A loader batch's images on `device`, normalised there when the split says so.
Tensor images_on(const DataSplit& split, const Tensor& images, Device device);

// Accepted dataset.name values: cifar10, cifar100, imagenet, imagefolder, mnist,
// fashion_mnist (also fashion-mnist).
DataSplit make_datasets(const Config& config);

}  // namespace lnx::tools
