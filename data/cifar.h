// CIFAR-10 and CIFAR-100 in the binary release's format. CIFAR-10: data_batch_1..5.bin and
// test_batch.bin, records of 1 label byte + 3072 image bytes (R, G, B planes of 32x32).
// CIFAR-100: train.bin and test.bin, records of a coarse and a fine label byte + 3072 bytes.
// Everything is read into memory once (180 MB for the 60k images) and stored (N, 32, 32, 3).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace lnx::data {

enum class CifarVariant { Cifar10, Cifar100 };
enum class CifarLabels { Fine, Coarse };  // CIFAR-100 only: 100 fine or 20 coarse classes

struct CifarOptions {
  CifarVariant variant = CifarVariant::Cifar10;
  bool train = true;
  CifarLabels labels = CifarLabels::Fine;
};

class CifarDataset : public Dataset {
 public:
  // `root` holds the .bin files, directly or in the release's cifar-10-batches-bin/ or
  // cifar-100-binary/ folder.
  CifarDataset(const std::filesystem::path& root, CifarOptions options);
  // Reads exactly these files, in order.
  CifarDataset(const std::vector<std::filesystem::path>& files, CifarOptions options);

  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  Example get(int64_t index, Generator& rng) const override;
  const std::vector<std::string>& class_names() const override { return class_names_; }
  std::string source(int64_t index) const override;

  // The files a split consists of, for `root`; throws naming the first one missing.
  static std::vector<std::filesystem::path> split_files(const std::filesystem::path& root,
                                                        const CifarOptions& options);

 private:
  void load(const std::filesystem::path& file, std::vector<uint8_t>& pixels);

  CifarOptions options_;
  Tensor images_;                // (N, 32, 32, 3) uint8
  std::vector<int64_t> labels_;  // (N,)
  std::vector<std::string> class_names_;
  // Per file: its name and the first record index past it, for source().
  std::vector<std::pair<std::string, int64_t>> file_ends_;
};

// Class names in label order.
const std::vector<std::string>& cifar10_class_names();
const std::vector<std::string>& cifar100_fine_class_names();
const std::vector<std::string>& cifar100_coarse_class_names();

}  // namespace lnx::data
