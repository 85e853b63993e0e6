#include "data/throughput.h"

#include <chrono>
#include <memory>

#include "core/error.h"
#include "data/loader.h"

namespace lnx::data {

double measure_loader_images_per_second(const Dataset& dataset, const ThroughputOptions& options) {
  LNX_CHECK(dataset.size() > 0, "measure_loader_images_per_second: the dataset is empty");
  // Not owned: the caller's dataset outlives this call and the loader in it.
  std::shared_ptr<const Dataset> view(std::shared_ptr<const Dataset>{}, &dataset);
  DataLoader loader(view, {.batch_size = options.batch_size,
                           .shuffle = true,
                           .drop_last = false,
                           .num_workers = options.num_workers,
                           .prefetch_batches = 2 * options.num_workers,
                           .seed = options.seed});
  const auto start = std::chrono::steady_clock::now();
  loader.start_epoch(0);
  int64_t images = 0;
  while (images < options.max_images) {
    auto batch = loader.next();
    if (!batch) break;
    images += batch->labels.numel();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  loader.stop();
  return seconds > 0.0 ? static_cast<double>(images) / seconds : 0.0;
}

}  // namespace lnx::data
