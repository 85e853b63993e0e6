#include "data/loader.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/error.h"
#include "core/random.h"
#include "data/sampling.h"

namespace lnx::data {
namespace {

// Keys of an epoch's two random streams: the shuffle, and the per-sample augmentation seeds.
uint64_t shuffle_key(uint64_t seed, int64_t epoch) {
  return random_bits(seed, 2 * static_cast<uint64_t>(epoch));
}
uint64_t sample_key(uint64_t seed, int64_t epoch) {
  return random_bits(seed, 2 * static_cast<uint64_t>(epoch) + 1);
}

// Thrown inside a worker when the epoch is stopped mid-batch; never leaves the loader.
struct Cancelled {};

}  // namespace

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), options_(options) {
  LNX_CHECK(dataset_ != nullptr, "DataLoader: the dataset is null");
  LNX_CHECK(options_.batch_size > 0, "DataLoader: batch_size must be positive, got ",
            options_.batch_size);
  LNX_CHECK(options_.num_workers >= 0, "DataLoader: num_workers must be non-negative, got ",
            options_.num_workers);
  LNX_CHECK(options_.prefetch_batches >= 0,
            "DataLoader: prefetch_batches must be non-negative, got ", options_.prefetch_batches);
  // Fewer slots than workers would leave workers idle.
  window_ = std::max<int64_t>({1, options_.prefetch_batches, options_.num_workers});
}

DataLoader::~DataLoader() {
  stop();
}

int64_t DataLoader::num_batches() const {
  const int64_t n = dataset_->size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<int64_t> DataLoader::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order(dataset_->size());
  std::iota(order.begin(), order.end(), int64_t{0});
  if (options_.shuffle) {
    Generator g(shuffle_key(options_.seed, epoch));
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[uniform_below(g, i)]);
  }
  return order;
}

void DataLoader::start_epoch(int64_t epoch) {
  LNX_CHECK(epoch >= 0, "DataLoader::start_epoch: epoch must be non-negative, got ", epoch);
  stop();
  epoch_ = epoch;
  order_ = epoch_order(epoch);
  sample_key_ = sample_key(options_.seed, epoch);
  batches_ = num_batches();
  cancel_ = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    next_claim_ = 0;
    next_deliver_ = 0;
    stopping_ = false;
    done_.clear();
  }
  const int threads = static_cast<int>(std::min<int64_t>(options_.num_workers, batches_));
  for (int t = 0; t < threads; ++t) workers_.emplace_back([this] { worker(); });
}

void DataLoader::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    // Nothing more to deliver: next() returns nothing until the next start_epoch.
    next_deliver_ = batches_;
  }
  cancel_ = true;
  space_cv_.notify_all();
  join_workers();
  std::lock_guard<std::mutex> lock(mu_);
  done_.clear();
}

void DataLoader::join_workers() {
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void DataLoader::worker() {
  for (;;) {
    int64_t b = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      space_cv_.wait(lock, [&] {
        return stopping_ || next_claim_ >= batches_ || next_claim_ < next_deliver_ + window_;
      });
      if (stopping_ || next_claim_ >= batches_) return;
      b = next_claim_++;
    }
    Slot slot;
    try {
      slot.batch = build(b);
    } catch (const Cancelled&) {
      return;
    } catch (...) {
      slot.error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_.emplace(b, std::move(slot));
    }
    ready_cv_.notify_all();
  }
}

std::optional<Batch> DataLoader::next() {
  LNX_CHECK(epoch_ >= 0, "DataLoader::next: call start_epoch first");
  Slot slot;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (next_deliver_ >= batches_) {
      lock.unlock();
      join_workers();  // they have all returned or are about to
      return std::nullopt;
    }
    const int64_t b = next_deliver_;
    if (workers_.empty()) {
      ++next_deliver_;
      lock.unlock();
      try {
        return build(b);
      } catch (...) {
        stop();
        throw;
      }
    }
    ready_cv_.wait(lock, [&] { return done_.count(b) > 0; });
    auto it = done_.find(b);
    slot = std::move(it->second);
    done_.erase(it);
    ++next_deliver_;
  }
  space_cv_.notify_all();
  if (slot.error) {
    stop();
    std::rethrow_exception(slot.error);
  }
  return std::move(slot.batch);
}

Batch DataLoader::build(int64_t batch_index) const {
  const int64_t first = batch_index * options_.batch_size;
  const int64_t n =
      std::min<int64_t>(options_.batch_size, static_cast<int64_t>(order_.size()) - first);
  Batch batch;
  batch.index = batch_index;
  batch.indices.assign(order_.begin() + first, order_.begin() + first + n);
  batch.labels = Tensor::empty({n}, DType::Int64);  // (N,)
  int64_t* labels = batch.labels.data<int64_t>();
  Shape sample_shape;
  const DType dtype = options_.byte_images ? DType::UInt8 : DType::Float32;
  uint8_t* images = nullptr;  // (N, C, H, W) bytes of float32 or uint8 values
  size_t sample_bytes = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (cancel_) throw Cancelled{};
    const int64_t index = batch.indices[i];
    Example e;
    try {
      Generator rng(random_bits(sample_key_, static_cast<uint64_t>(index)));
      e = dataset_->get(index, rng);
    } catch (const std::exception& ex) {
      fail("DataLoader: sample ", index, " (", dataset_->source(index), "): ", ex.what());
    }
    LNX_CHECK(e.image.defined() && e.image.dtype() == dtype && e.image.dim() == 3,
              "DataLoader: sample ", index, " (", dataset_->source(index), ") is ",
              e.image.defined() ? str(dtype_name(e.image.dtype()), " ", to_string(e.image.shape()))
                                : std::string("undefined"),
              options_.byte_images
                  ? "; this loader takes uint8 (C, H, W) images (byte_images: end the transform "
                    "in CropFlip or ToChw)"
                  : "; batches need float32 (C, H, W) images (add ToTensor to the transform)");
    if (i == 0) {
      sample_shape = e.image.shape();
      sample_bytes = static_cast<size_t>(e.image.numel()) * dtype_size(dtype);
      batch.images = Tensor::empty({n, sample_shape[0], sample_shape[1], sample_shape[2]}, dtype);
      images = static_cast<uint8_t*>(batch.images.raw_data());
    }
    LNX_CHECK(e.image.shape() == sample_shape, "DataLoader: sample ", index, " (",
              dataset_->source(index), ") has shape ", to_string(e.image.shape()),
              ", the batch's first sample has ", to_string(sample_shape),
              " (crop or resize to one size)");
    const Tensor img = e.image.contiguous();
    std::memcpy(images + static_cast<size_t>(i) * sample_bytes, img.raw_data(), sample_bytes);
    labels[i] = e.label;
  }
  return batch;
}

}  // namespace lnx::data
