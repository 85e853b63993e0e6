// The training loop of `lilnetx train`: builds the model, data, optimizer and schedule from a
// Config, trains with per-iteration learning rates, evaluates, writes metrics.jsonl and
// checkpoints, and resumes exactly (same seed and thread count: the same numbers as a run that
// was never interrupted).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "compress/objective.h"
#include "data/loader.h"
#include "layers/module.h"
#include "layers/optim/optimizer.h"
#include "layers/optim/schedule.h"
#include "tools/config.h"
#include "tools/datasets.h"

namespace lnx::tools {

struct EvalResult {
  double loss = 0;
  double top1 = 0;  // fractions in [0, 1]
  double top5 = 0;
  int64_t images = 0;
};

struct CompressionSummary {
  double prior_kb = 0;       // estimated size of the latents under the learned priors
  double empirical_kb = 0;   // with per-channel tables fitted to the latents present
  double slice_flag_kb = 0;  // the same with a flag per slice first, as .lnx files code them
  SparsityStats latents, weights;
};

struct EpochResult {
  int64_t epoch = 0;
  double train_loss = 0;
  double train_top1 = 0;
  double lr = 0;
  double seconds = 0;
  double images_per_second = 0;
  double train_bits = 0;  // LilNetX: the rate's (noisy) bits, averaged over the epoch
  EvalResult test;
  bool evaluated = false;
  bool compressed = false;
  CompressionSummary compression;
};

// What a network's shape depends on besides the config: the data set's classes and images.
struct DataShape {
  int64_t num_classes = 10, in_channels = 3, image_size = 32;
};
struct BuiltNetwork {
  ModulePtr model;
  std::shared_ptr<GroupSet> groups;  // LilNetX networks only
};
// The network the config's network section describes, initialised from common.seed: what the
// trainer trains and what an .lnx file's architecture section rebuilds.
BuiltNetwork build_network_from_config(const Config& config, const DataShape& data);

// "2 h 5 min": how long epochs_left more epochs take at epoch_seconds each, for the epoch log
// ("under a minute" below one).
std::string time_left(int64_t epochs_left, double epoch_seconds);

class Trainer {
 public:
  // `quiet` silences progress output (tests).
  explicit Trainer(Config config, bool quiet = false);
  ~Trainer();

  // Trains from the current epoch to trainer.epochs (resuming first when configured);
  // returns the last evaluation.
  EvalResult fit();
  EpochResult train_epoch();
  EvalResult evaluate();
  // The same over the test set with another forward pass (e.g. a sparse inference plan),
  // images (N, C, H, W) -> logits (N, classes).
  EvalResult evaluate(const std::function<Tensor(const Tensor&)>& forward);
  // LilNetX networks: size and sparsity as they stand (empty for float networks).
  CompressionSummary compression_summary() const;
  bool compressed() const { return groups_ != nullptr; }

  // Checkpoint of model, optimizer, epoch, best accuracy, RNG state and the config.
  void save(const std::string& path) const;
  void load(const std::string& path);

  int64_t epoch() const { return epoch_; }
  Module& model() { return *model_; }
  const GroupSet* groups() const { return groups_.get(); }  // null for a float network
  const ModulePtr& model_ptr() const { return model_; }
  const Config& config() const { return config_; }
  std::string checkpoint_path() const;

 private:
  void print(const std::string& line) const;
  void init_from(const std::string& path);
  void log_epoch(const EpochResult& r) const;

  Config config_;
  bool quiet_;
  Device device_;
  DataSplit data_;
  std::unique_ptr<data::DataLoader> train_loader_, test_loader_;
  ModulePtr model_;
  std::unique_ptr<Optimizer> optimizer_;
  std::shared_ptr<GroupSet> groups_;             // LilNetX only
  std::unique_ptr<LilnetxObjective> objective_;  // LilNetX only
  std::unique_ptr<Optimizer> prior_optimizer_;   // LilNetX only: the priors' own Adam
  std::unique_ptr<LRSchedule> schedule_;
  int64_t epoch_ = 0;  // epochs completed
  double best_top1_ = 0;
  int64_t max_batches_ = -1;
  bool freeze_latents_ = false;  // trainer.freeze_latents: no rate/sparsity terms, no prior steps
};

}  // namespace lnx::tools
