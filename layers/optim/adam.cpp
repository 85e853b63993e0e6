#include "layers/optim/adam.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "core/cpu/strided.h"
#include "core/ops.h"

namespace lnx {

namespace {

std::vector<ParamGroup> to_groups(std::vector<AdamParamGroup>& specs) {
  std::vector<ParamGroup> groups;
  for (auto& s : specs) {
    const AdamOptions& o = s.options;
    LNX_CHECK(o.beta1 >= 0.0 && o.beta1 < 1.0 && o.beta2 >= 0.0 && o.beta2 < 1.0, "Adam: betas (",
              o.beta1, ", ", o.beta2, ") must both be in [0, 1)");
    LNX_CHECK(o.eps >= 0.0, "Adam: eps is ", o.eps, ", expected >= 0");
    groups.push_back(ParamGroup{std::move(s.params), o.lr, o.weight_decay, o.lr, s.name});
  }
  return groups;
}

}  // namespace

Adam::Adam(std::vector<Variable> params, const AdamOptions& options)
    : Adam(std::vector<AdamParamGroup>{AdamParamGroup{std::move(params), options, ""}}) {}

Adam::Adam(std::vector<AdamParamGroup> groups) : Optimizer("Adam", to_groups(groups)) {
  for (const auto& s : groups) options_.push_back(s.options);  // only params were moved out
  state_.resize(parameters().size());
}

AdamOptions Adam::options(size_t g) const {
  AdamOptions o = options_.at(g);
  o.lr = group(g).lr;
  o.weight_decay = group(g).weight_decay;
  return o;
}

int64_t Adam::step_count(size_t k) const {
  LNX_CHECK(k < state_.size(), "Adam: parameter ", k, " is out of range for ", state_.size());
  const Tensor& t = state_[k].step;
  return t.defined() ? t.data<int64_t>()[0] : 0;
}

void Adam::step() {
  NoGradGuard no_grad;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const ParamGroup& group = groups_[g];
    const AdamOptions& o = options_[g];
    const double lr = group.lr, wd = group.weight_decay;
    for (size_t i = 0; i < group.params.size(); ++i) {
      const Variable& p = group.params[i];
      if (!p.grad().defined()) continue;
      const Tensor& w = p.data();
      const Tensor grad = p.grad().contiguous();
      LNX_CHECK(grad.shape() == w.shape(), "Adam: gradient of '", p.name(), "' has shape ",
                to_string(grad.shape()), ", parameter has ", to_string(w.shape()));
      ParamState& s = state_[param_index(g, i)];
      if (!s.step.defined()) {
        s.exp_avg = zeros(w.shape(), DType::Float32, w.device());
        s.exp_avg_sq = zeros(w.shape(), DType::Float32, w.device());
        s.step = zeros({}, DType::Int64);
      }
      const int64_t t = ++s.step.data<int64_t>()[0];
      s.step.bump_version();
      const double bias_correction1 = 1.0 - std::pow(o.beta1, static_cast<double>(t));
      const double bias_correction2 = 1.0 - std::pow(o.beta2, static_cast<double>(t));
      const double step_size = lr / bias_correction1;
      const double bc2_sqrt = std::sqrt(bias_correction2);

      if (use_fused(w, grad)) {
        // One pass in float, rounding like PyTorch's sequence of ops.
        float* pw = w.data<float>();
        const float* pg = grad.data<float>();
        float* m = s.exp_avg.data<float>();
        float* v = s.exp_avg_sq.data<float>();
        const float b1 = static_cast<float>(o.beta1), b2 = static_cast<float>(o.beta2);
        const float one_b1 = static_cast<float>(1.0 - o.beta1);
        const float one_b2 = static_cast<float>(1.0 - o.beta2);
        const float fwd = static_cast<float>(wd), feps = static_cast<float>(o.eps);
        const float fbc2 = static_cast<float>(bc2_sqrt);
        const float neg_step = static_cast<float>(-step_size);
        const int64_t n = w.numel();
        // Element-wise and independent: threads change nothing but the speed.
#pragma omp parallel for schedule(static) if (n >= cpu::kParallelGrain)
        for (int64_t j = 0; j < n; ++j) {
          float gj = pg[j];
          if (wd != 0.0) gj = gj + fwd * pw[j];
          m[j] = m[j] * b1 + one_b1 * gj;
          v[j] = v[j] * b2 + one_b2 * (gj * gj);
          const float denom = std::sqrt(v[j]) / fbc2 + feps;
          pw[j] = pw[j] + neg_step * (m[j] / denom);
        }
        w.bump_version();
        s.exp_avg.bump_version();
        s.exp_avg_sq.bump_version();
        continue;
      }

      const Tensor gj = wd != 0.0 ? ops::add(grad, ops::mul(w, wd)) : grad;
      ops::mul_(s.exp_avg, o.beta1);
      ops::add_(s.exp_avg, gj, 1.0 - o.beta1);
      ops::mul_(s.exp_avg_sq, o.beta2);
      ops::add_(s.exp_avg_sq, ops::mul(gj, gj), 1.0 - o.beta2);
      const Tensor denom = ops::add(
          ops::binary_scalar(BinaryOp::Div, ops::unary(UnaryOp::Sqrt, s.exp_avg_sq), bc2_sqrt),
          o.eps);
      ops::add_(w, ops::div(s.exp_avg, denom), -step_size);
    }
  }
}

std::vector<Optimizer::StateSpec> Adam::state_specs() const {
  return {StateSpec{"exp_avg", true}, StateSpec{"exp_avg_sq", true}, StateSpec{"step", false}};
}

Tensor& Adam::state(size_t k, const std::string& name) {
  LNX_CHECK(k < state_.size(), "Adam: parameter ", k, " is out of range for ", state_.size());
  if (name == "exp_avg") return state_[k].exp_avg;
  if (name == "exp_avg_sq") return state_[k].exp_avg_sq;
  if (name == "step") return state_[k].step;
  fail("Adam: no state named '", name, "'; expected exp_avg, exp_avg_sq or step");
}

const Tensor& Adam::state(size_t k, const std::string& name) const {
  LNX_CHECK(k < state_.size(), "Adam: parameter ", k, " is out of range for ", state_.size());
  if (name == "exp_avg") return state_[k].exp_avg;
  if (name == "exp_avg_sq") return state_[k].exp_avg_sq;
  if (name == "step") return state_[k].step;
  fail("Adam: no state named '", name, "'; expected exp_avg, exp_avg_sq or step");
}

}  // namespace lnx
