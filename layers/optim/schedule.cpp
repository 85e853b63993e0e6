#include "layers/optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"
#include "layers/optim/optimizer.h"

namespace lnx {

namespace {

bool finite_nonneg(double x) {
  return std::isfinite(x) && x >= 0.0;
}

}  // namespace

LRSchedule::LRSchedule(const ScheduleConfig& c) : config_(c) {
  LNX_CHECK(finite_nonneg(c.lr), "schedule: lr is ", c.lr, ", expected a finite value >= 0");
  LNX_CHECK(finite_nonneg(c.min_lr) && c.min_lr <= c.lr, "schedule: min_lr is ", c.min_lr,
            ", expected between 0 and lr = ", c.lr);
  LNX_CHECK(std::isfinite(c.total_epochs) && c.total_epochs > 0.0, "schedule: total_epochs is ",
            c.total_epochs, ", expected > 0");
}

double LRSchedule::clamp_epoch(double t) const {
  LNX_CHECK(std::isfinite(t), "schedule: epoch ", t, " is not finite");
  return std::clamp(t, 0.0, config_.total_epochs);
}

double LRSchedule::lr_at(int64_t epoch, int64_t iter, int64_t iters_per_epoch) const {
  LNX_CHECK(iters_per_epoch > 0, "schedule: iters_per_epoch is ", iters_per_epoch,
            ", expected > 0");
  LNX_CHECK(epoch >= 0 && iter >= 0 && iter < iters_per_epoch, "schedule: epoch ", epoch,
            ", iteration ", iter, " is out of range for ", iters_per_epoch,
            " iterations per epoch");
  return lr_at(static_cast<double>(epoch) +
               static_cast<double>(iter) / static_cast<double>(iters_per_epoch));
}

double LRSchedule::factor_at(double t) const {
  return config_.lr > 0.0 ? lr_at(t) / config_.lr : 0.0;
}

void LRSchedule::apply(Optimizer& optimizer, int64_t epoch, int64_t iter,
                       int64_t iters_per_epoch) const {
  const double lr = lr_at(epoch, iter, iters_per_epoch);
  optimizer.set_lr_factor(config_.lr > 0.0 ? lr / config_.lr : 0.0);
}

double ConstantSchedule::lr_at(double t) const {
  clamp_epoch(t);  // validates t
  return config_.lr;
}

CosineSchedule::CosineSchedule(const ScheduleConfig& c) : LRSchedule(c) {
  decay_end_ = c.plateau_epoch < 0.0 ? c.total_epochs : c.plateau_epoch;
  LNX_CHECK(finite_nonneg(c.warmup_epochs) && c.warmup_epochs < decay_end_,
            "cosine schedule: warmup_epochs is ", c.warmup_epochs,
            ", expected >= 0 and below the end of the decay at epoch ", decay_end_);
  LNX_CHECK(c.plateau_epoch < 0.0 || c.plateau_epoch <= c.total_epochs,
            "cosine schedule: plateau_epoch ", c.plateau_epoch, " is past total_epochs ",
            c.total_epochs);
  LNX_CHECK(c.warmup_start_factor >= 0.0 && c.warmup_start_factor <= 1.0,
            "cosine schedule: warmup_start_factor is ", c.warmup_start_factor,
            ", expected in [0, 1]");
}

double CosineSchedule::lr_at(double t) const {
  t = clamp_epoch(t);
  const ScheduleConfig& c = config_;
  if (t < c.warmup_epochs) {
    const double f = c.warmup_start_factor;
    return c.lr * (f + (1.0 - f) * t / c.warmup_epochs);
  }
  const double progress = std::min(1.0, (t - c.warmup_epochs) / (decay_end_ - c.warmup_epochs));
  return c.min_lr + (c.lr - c.min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

StepSchedule::StepSchedule(const ScheduleConfig& c) : LRSchedule(c) {
  LNX_CHECK(std::isfinite(c.gamma) && c.gamma > 0.0, "step schedule: gamma is ", c.gamma,
            ", expected > 0");
  for (size_t i = 0; i < c.milestones.size(); ++i) {
    LNX_CHECK(finite_nonneg(c.milestones[i]), "step schedule: milestone ", i, " is ",
              c.milestones[i], ", expected >= 0");
    LNX_CHECK(i == 0 || c.milestones[i] > c.milestones[i - 1],
              "step schedule: milestones must increase, got ", c.milestones[i - 1], " then ",
              c.milestones[i]);
  }
}

double StepSchedule::lr_at(double t) const {
  t = clamp_epoch(t);
  const auto passed = std::upper_bound(config_.milestones.begin(), config_.milestones.end(), t) -
                      config_.milestones.begin();
  return config_.lr * std::pow(config_.gamma, static_cast<double>(passed));
}

TriangleSchedule::TriangleSchedule(const ScheduleConfig& c) : LRSchedule(c) {
  cycle_ = c.cycle_epochs < 0.0 ? c.total_epochs : c.cycle_epochs;
  LNX_CHECK(std::isfinite(cycle_) && cycle_ > 0.0, "triangle schedule: cycle_epochs is ",
            c.cycle_epochs, ", expected > 0");
  peak_ = c.peak_epoch < 0.0 ? cycle_ / 2.0 : c.peak_epoch;
  LNX_CHECK(peak_ > 0.0 && peak_ < cycle_, "triangle schedule: peak_epoch is ", peak_,
            ", expected strictly inside the cycle (0, ", cycle_, ")");
}

double TriangleSchedule::lr_at(double t) const {
  t = clamp_epoch(t);
  const ScheduleConfig& c = config_;
  // The last instant of the run belongs to the cycle it ends, not to a new one.
  double pos = std::fmod(t, cycle_);
  if (pos == 0.0 && t > 0.0) pos = cycle_;
  const double up = pos <= peak_ ? pos / peak_ : (cycle_ - pos) / (cycle_ - peak_);
  return c.min_lr + (c.lr - c.min_lr) * up;
}

const std::vector<std::string>& schedule_names() {
  static const std::vector<std::string> names = {"constant", "cosine", "step", "triangle"};
  return names;
}

std::unique_ptr<LRSchedule> make_schedule(const std::string& name, const ScheduleConfig& config) {
  if (name == "constant") return std::make_unique<ConstantSchedule>(config);
  if (name == "cosine") return std::make_unique<CosineSchedule>(config);
  if (name == "step") return std::make_unique<StepSchedule>(config);
  if (name == "triangle") return std::make_unique<TriangleSchedule>(config);
  std::string allowed;
  for (const auto& n : schedule_names()) allowed += (allowed.empty() ? "" : ", ") + n;
  fail("make_schedule: unknown schedule '", name, "'; expected one of ", allowed);
}

}  // namespace lnx
