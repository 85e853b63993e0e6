// Datasets: indexable collections of (image, label) examples. A dataset returns images as it
// stores them - uint8 (H, W, C) - and a Transform (data/transforms.h) turns them into float
// (C, H, W); TransformedDataset chains the two so the DataLoader sees one Dataset.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"

namespace lnx::data {

struct Example {
  Tensor image;  // uint8 (H, W, C) as stored, float32 (C, H, W) after ToTensor
  int64_t label = 0;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // Must be safe to call from several threads at once: the DataLoader's workers share one
  // dataset. `rng` is the sample's own generator (derived from the epoch seed and the index),
  // so a random augmentation does not depend on which thread ran it.
  virtual Example get(int64_t index, Generator& rng) const = 0;
  virtual const std::vector<std::string>& class_names() const = 0;
  virtual int64_t num_classes() const { return static_cast<int64_t>(class_names().size()); }
  // Where sample `index` comes from ("train/cat/0001.jpg", "data_batch_2.bin record 17"),
  // for error messages.
  virtual std::string source(int64_t index) const;
};

// Throws naming `who` when index is outside [0, size).
void check_index(const char* who, int64_t index, int64_t size);

class Transform;

// A dataset whose examples pass through a transform; it owns neither more nor less than the
// two shared handles.
class TransformedDataset : public Dataset {
 public:
  TransformedDataset(std::shared_ptr<const Dataset> base,
                     std::shared_ptr<const Transform> transform);
  int64_t size() const override { return base_->size(); }
  Example get(int64_t index, Generator& rng) const override;
  const std::vector<std::string>& class_names() const override { return base_->class_names(); }
  int64_t num_classes() const override { return base_->num_classes(); }
  std::string source(int64_t index) const override { return base_->source(index); }
  const Dataset& base() const { return *base_; }

 private:
  std::shared_ptr<const Dataset> base_;
  std::shared_ptr<const Transform> transform_;
};

}  // namespace lnx::data
