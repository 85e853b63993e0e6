#include "layers/optim/sgd.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "core/cpu/strided.h"
#include "core/ops.h"

namespace lnx {

namespace {

std::vector<ParamGroup> to_groups(std::vector<SGDParamGroup>& specs) {
  std::vector<ParamGroup> groups;
  for (auto& s : specs) {
    const SGDOptions& o = s.options;
    LNX_CHECK(std::isfinite(o.momentum) && o.momentum >= 0.0, "SGD: momentum is ", o.momentum,
              ", expected a finite value >= 0");
    LNX_CHECK(o.dampening >= 0.0 && o.dampening <= 1.0, "SGD: dampening is ", o.dampening,
              ", expected in [0, 1]");
    LNX_CHECK(!o.nesterov || (o.momentum > 0.0 && o.dampening == 0.0),
              "SGD: Nesterov momentum needs momentum > 0 and dampening 0, got momentum ",
              o.momentum, " and dampening ", o.dampening);
    groups.push_back(ParamGroup{std::move(s.params), o.lr, o.weight_decay, o.lr, s.name});
  }
  return groups;
}

std::vector<SGDOptions> options_of(const std::vector<SGDParamGroup>& specs) {
  std::vector<SGDOptions> out;
  for (const auto& s : specs) out.push_back(s.options);
  return out;
}

}  // namespace

SGD::SGD(std::vector<Variable> params, const SGDOptions& options)
    : SGD(std::vector<SGDParamGroup>{SGDParamGroup{std::move(params), options, ""}}) {}

SGD::SGD(std::vector<SGDParamGroup> groups) : Optimizer("SGD", to_groups(groups)) {
  options_ = options_of(groups);  // to_groups moved only the parameters out
  momentum_buffer_.resize(parameters().size());
}

SGDOptions SGD::options(size_t g) const {
  SGDOptions o = options_.at(g);
  o.lr = group(g).lr;
  o.weight_decay = group(g).weight_decay;
  return o;
}

void SGD::step() {
  NoGradGuard no_grad;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const ParamGroup& group = groups_[g];
    const SGDOptions& o = options_[g];
    const double lr = group.lr, wd = group.weight_decay, momentum = o.momentum;
    const double damp = 1.0 - o.dampening;
    for (size_t i = 0; i < group.params.size(); ++i) {
      const Variable& p = group.params[i];
      if (!p.grad().defined()) continue;
      const Tensor& w = p.data();
      const Tensor grad = p.grad().contiguous();
      LNX_CHECK(grad.shape() == w.shape(), "SGD: gradient of '", p.name(), "' has shape ",
                to_string(grad.shape()), ", parameter has ", to_string(w.shape()));
      Tensor& buf = momentum_buffer_[param_index(g, i)];
      const bool first = !buf.defined();
      if (momentum != 0.0 && first) buf = zeros(w.shape(), DType::Float32, w.device());

      if (use_fused(w, grad)) {
        // One pass, in float, in the order PyTorch's ops round: d = g + wd*p; buf = m*buf +
        // (1-damp)*d; d = d + m*buf or buf; p = p + (-lr)*d.
        float* pw = w.data<float>();
        const float* pg = grad.data<float>();
        float* pb = momentum != 0.0 ? buf.data<float>() : nullptr;
        const float fwd = static_cast<float>(wd), fm = static_cast<float>(momentum);
        const float fdamp = static_cast<float>(damp), neg_lr = static_cast<float>(-lr);
        const int64_t n = w.numel();
        // Element-wise and independent: threads change nothing but the speed.
#pragma omp parallel for schedule(static) if (n >= cpu::kParallelGrain)
        for (int64_t j = 0; j < n; ++j) {
          float d = pg[j];
          if (wd != 0.0) d = d + fwd * pw[j];
          if (pb) {
            pb[j] = first ? d : pb[j] * fm + fdamp * d;
            d = o.nesterov ? d + fm * pb[j] : pb[j];
          }
          pw[j] = pw[j] + neg_lr * d;
        }
        w.bump_version();
        if (pb) buf.bump_version();
        continue;
      }

      Tensor d = wd != 0.0 ? ops::add(grad, ops::mul(w, wd)) : grad;
      if (momentum != 0.0) {
        if (first) {
          buf.copy_(d);
        } else {
          ops::mul_(buf, momentum);
          ops::add_(buf, d, damp);
        }
        d = o.nesterov ? ops::add(d, ops::mul(buf, momentum)) : buf;
      }
      ops::add_(w, d, -lr);
    }
  }
}

std::vector<Optimizer::StateSpec> SGD::state_specs() const {
  return {StateSpec{"momentum_buffer", true}};
}

Tensor& SGD::state(size_t k, const std::string& name) {
  LNX_CHECK(name == "momentum_buffer" && k < momentum_buffer_.size(), "SGD: no state '", name,
            "' for parameter ", k);
  return momentum_buffer_[k];
}

const Tensor& SGD::state(size_t k, const std::string& name) const {
  LNX_CHECK(name == "momentum_buffer" && k < momentum_buffer_.size(), "SGD: no state '", name,
            "' for parameter ", k);
  return momentum_buffer_[k];
}

}  // namespace lnx
