#include "data/dataset.h"

#include "core/error.h"
#include "data/transforms.h"

namespace lnx::data {

std::string Dataset::source(int64_t index) const {
  return str("sample ", index);
}

void check_index(const char* who, int64_t index, int64_t size) {
  LNX_CHECK(index >= 0 && index < size, who, ": index ", index, " is out of range for ", size,
            " samples");
}

TransformedDataset::TransformedDataset(std::shared_ptr<const Dataset> base,
                                       std::shared_ptr<const Transform> transform)
    : base_(std::move(base)), transform_(std::move(transform)) {
  LNX_CHECK(base_ != nullptr, "TransformedDataset: the base dataset is null");
  LNX_CHECK(transform_ != nullptr, "TransformedDataset: the transform is null");
}

Example TransformedDataset::get(int64_t index, Generator& rng) const {
  Example e = base_->get(index, rng);
  e.image = (*transform_)(e.image, rng);
  return e;
}

}  // namespace lnx::data
