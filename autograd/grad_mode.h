// Global switches of the autograd engine: gradient recording (per thread) and anomaly mode.
#pragma once

namespace lnx {

bool grad_enabled();
void set_grad_enabled(bool enabled);

// Inside this scope ops record no graph: for evaluation and for optimizer updates.
class NoGradGuard {
 public:
  NoGradGuard() : prev_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// Anomaly mode checks every op's output (forward) and every gradient (backward) for NaN/Inf
// and throws naming the first op that produced one. Slow; for debugging.
bool anomaly_mode();
void set_anomaly_mode(bool enabled);

class AnomalyModeGuard {
 public:
  explicit AnomalyModeGuard(bool enabled = true) : prev_(anomaly_mode()) {
    set_anomaly_mode(enabled);
  }
  ~AnomalyModeGuard() { set_anomaly_mode(prev_); }
  AnomalyModeGuard(const AnomalyModeGuard&) = delete;
  AnomalyModeGuard& operator=(const AnomalyModeGuard&) = delete;

 private:
  bool prev_;
};

}  // namespace lnx
