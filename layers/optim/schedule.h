// Learning-rate schedules, evaluated per iteration at a fractional epoch
// t = epoch + iter / iters_per_epoch, so warm-up and decay are smooth within an epoch.
//
//   constant  lr throughout.
//   cosine    linear warm-up from warmup_start_factor * lr to lr over warmup_epochs, then a
//             half cosine from lr down to min_lr, reached at plateau_epoch (default: the last
//             epoch) and held after it.
//   step      lr * gamma^(number of milestones <= t).
//   triangle  from min_lr up to lr at peak_epoch, then down to min_lr at the end of the cycle
//             (cycle_epochs, default: the whole run); repeats for later cycles.
//
// A schedule yields absolute rates for the configured lr; factor_at() is the same curve divided
// by lr, for optimizers whose groups run at different rates (Optimizer::set_lr_factor).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lnx {

class Optimizer;

struct ScheduleConfig {
  double lr = 0.1;          // the nominal (peak) rate the optimizer was built with
  double total_epochs = 0;  // length of the run, > 0
  double min_lr = 0.0;      // cosine's floor, triangle's base
  // cosine
  double warmup_epochs = 0.0;
  double warmup_start_factor = 1e-4;  // warm-up starts at this fraction of lr
  double plateau_epoch = -1.0;        // < 0: the cosine ends at total_epochs
  // step
  std::vector<double> milestones;
  double gamma = 0.1;
  // triangle
  double peak_epoch = -1.0;    // < 0: the middle of the cycle
  double cycle_epochs = -1.0;  // < 0: the whole run is one cycle
};

class LRSchedule {
 public:
  explicit LRSchedule(const ScheduleConfig& config);
  virtual ~LRSchedule() = default;

  virtual const char* name() const = 0;
  // The rate at fractional epoch t (clamped to [0, total_epochs]).
  virtual double lr_at(double t) const = 0;
  double lr_at(int64_t epoch, int64_t iter, int64_t iters_per_epoch) const;
  double factor_at(double t) const;  // lr_at(t) / lr (0 when lr is 0)
  // Sets the optimizer's group rates for this iteration (initial lr of each group * factor).
  void apply(Optimizer& optimizer, int64_t epoch, int64_t iter, int64_t iters_per_epoch) const;
  const ScheduleConfig& config() const { return config_; }

 protected:
  double clamp_epoch(double t) const;
  ScheduleConfig config_;
};

class ConstantSchedule : public LRSchedule {
 public:
  explicit ConstantSchedule(const ScheduleConfig& config) : LRSchedule(config) {}
  const char* name() const override { return "constant"; }
  double lr_at(double t) const override;
  using LRSchedule::lr_at;
};

class CosineSchedule : public LRSchedule {
 public:
  explicit CosineSchedule(const ScheduleConfig& config);
  const char* name() const override { return "cosine"; }
  double lr_at(double t) const override;
  using LRSchedule::lr_at;

 private:
  double decay_end_;  // plateau_epoch or total_epochs
};

class StepSchedule : public LRSchedule {
 public:
  explicit StepSchedule(const ScheduleConfig& config);
  const char* name() const override { return "step"; }
  double lr_at(double t) const override;
  using LRSchedule::lr_at;
};

class TriangleSchedule : public LRSchedule {
 public:
  explicit TriangleSchedule(const ScheduleConfig& config);
  const char* name() const override { return "triangle"; }
  double lr_at(double t) const override;
  using LRSchedule::lr_at;

 private:
  double cycle_;
  double peak_;
};

// Builds a schedule by name: constant, cosine, step or triangle; throws listing those names.
std::unique_ptr<LRSchedule> make_schedule(const std::string& name, const ScheduleConfig& config);
const std::vector<std::string>& schedule_names();

}  // namespace lnx
