// MNIST-style IDX files: an images file (magic 0x00000803: count, rows, cols, then uint8 pixels)
// and a labels file (magic 0x00000801: count, then one uint8 label each), big-endian headers,
// plain or gzip-compressed. Used for MNIST and Fashion-MNIST; images come out (28, 28, 1).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace lnx::data {

class IdxDataset : public Dataset {
 public:
  // Empty class_names: "0", "1", ... up to the largest label.
  IdxDataset(const std::filesystem::path& images_file, const std::filesystem::path& labels_file,
             std::vector<std::string> class_names = {});

  // The standard file names in `root` (train-images-idx3-ubyte[.gz], t10k-..., also with a '.'
  // before "idx"), for MNIST and Fashion-MNIST.
  static IdxDataset from_folder(const std::filesystem::path& root, bool train,
                                std::vector<std::string> class_names = {});

  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  Example get(int64_t index, Generator& rng) const override;
  const std::vector<std::string>& class_names() const override { return class_names_; }
  std::string source(int64_t index) const override;

 private:
  std::string images_name_;
  Tensor images_;                // (N, rows, cols, 1) uint8
  std::vector<int64_t> labels_;  // (N,)
  std::vector<std::string> class_names_;
};

const std::vector<std::string>& mnist_class_names();
const std::vector<std::string>& fashion_mnist_class_names();

}  // namespace lnx::data
