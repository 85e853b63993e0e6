// DataLoader: batches a dataset's (C, H, W) examples (float32, or uint8 to normalise later) into
// (N, C, H, W) images and (N,) labels, with worker threads building batches ahead of the consumer
// in a bounded window.
//
//   DataLoader loader(dataset, {.batch_size = 128, .shuffle = true, .num_workers = 2});
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     while (auto batch = loader.next()) train_step(batch->images, batch->labels);
//   }
//
// Deterministic: the order of an epoch depends on (seed, epoch) only, and each sample's
// augmentation on (seed, epoch, index) only, so the batches are the same whatever num_workers
// and however the threads are scheduled. Batches arrive in order.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "data/dataset.h"

namespace lnx::data {

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = false;
  bool drop_last = false;    // drop a last batch smaller than batch_size
  int num_workers = 2;       // 0: batches are built in the calling thread, inside next()
  int prefetch_batches = 4;  // batches built or being built ahead of the consumer
  uint64_t seed = 0;
  // Accept uint8 (C, H, W) samples (CropFlip, ToChw) for a batch normalised later. Off by
  // default: a uint8 sample is then a forgotten ToTensor, since (H, W, C) looks the same.
  bool byte_images = false;
};

struct Batch {
  Tensor images;                 // (N, C, H, W) float32, or uint8 when the transform ends in bytes
  Tensor labels;                 // (N,) int64
  std::vector<int64_t> indices;  // (N,) the dataset indices, in batch order
  int64_t index = 0;             // the batch's position in the epoch
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options);
  ~DataLoader();  // stops the workers: a consumer may leave an epoch half read
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Ends any epoch in progress and starts `epoch`.
  void start_epoch(int64_t epoch);
  // The next batch of the epoch, or nothing once the epoch is done. An exception thrown while
  // building a batch (a corrupt file...) is rethrown here, naming the sample, and ends the epoch.
  std::optional<Batch> next();
  // Ends the current epoch early and joins the workers; next() then returns nothing.
  void stop();

  int64_t num_batches() const;
  int64_t epoch() const { return epoch_; }
  const Dataset& dataset() const { return *dataset_; }
  const LoaderOptions& options() const { return options_; }
  // The dataset indices in the order epoch `epoch` visits them.
  std::vector<int64_t> epoch_order(int64_t epoch) const;

 private:
  struct Slot {
    std::optional<Batch> batch;
    std::exception_ptr error;
  };

  Batch build(int64_t batch_index) const;
  void worker();
  void join_workers();

  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions options_;
  int64_t window_ = 1;  // batches claimed but not yet delivered, at most

  // Fixed while an epoch runs; workers read them without the lock.
  int64_t epoch_ = -1;
  std::vector<int64_t> order_;
  uint64_t sample_key_ = 0;
  int64_t batches_ = 0;
  std::atomic<bool> cancel_{false};

  std::mutex mu_;
  std::condition_variable ready_cv_;  // consumer: a batch was finished
  std::condition_variable space_cv_;  // workers: the window moved, or stop
  int64_t next_claim_ = 0;            // guarded by mu_
  int64_t next_deliver_ = 0;          // guarded by mu_
  bool stopping_ = false;             // guarded by mu_
  std::map<int64_t, Slot> done_;      // guarded by mu_
  std::vector<std::thread> workers_;
};

}  // namespace lnx::data
