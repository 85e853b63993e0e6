#include "layers/optim/optimizer.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "autograd/grad_mode.h"
#include "core/ops.h"

namespace lnx {

Tensor double_to_tensor(double value) {
  int64_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  return from_vector(std::vector<int64_t>{bits}, {});
}

double tensor_to_double(const Tensor& t) {
  LNX_CHECK(t.dtype() == DType::Int64 && t.numel() == 1, "tensor_to_double: expected an int64 ",
            "scalar holding a double's bits, got ", t.dtype(), " of shape ", to_string(t.shape()));
  const int64_t bits = t.cpu().contiguous().data<int64_t>()[0];
  double value = 0.0;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

Optimizer::Optimizer(std::string type_name, std::vector<ParamGroup> groups)
    : groups_(std::move(groups)), type_name_(std::move(type_name)) {
  std::set<const VariableImpl*> seen;
  for (size_t g = 0; g < groups_.size(); ++g) {
    ParamGroup& group = groups_[g];
    if (group.name.empty()) group.name = str("group", g);
    LNX_CHECK(std::isfinite(group.lr) && group.lr >= 0.0, type_name_, ": group '", group.name,
              "' has lr ", group.lr, ", expected a finite value >= 0");
    LNX_CHECK(std::isfinite(group.weight_decay) && group.weight_decay >= 0.0, type_name_,
              ": group '", group.name, "' has weight_decay ", group.weight_decay,
              ", expected a finite value >= 0");
    group.initial_lr = group.lr;
    offsets_.push_back(num_params_);
    for (size_t i = 0; i < group.params.size(); ++i) {
      const Variable& p = group.params[i];
      LNX_CHECK(p.defined(), type_name_, ": parameter ", i, " of group '", group.name,
                "' is undefined");
      LNX_CHECK(p.is_leaf(), type_name_, ": parameter '", p.name(), "' of group '", group.name,
                "' is not a leaf; only leaves can be optimized");
      LNX_CHECK(p.data().dtype() == DType::Float32, type_name_, ": parameter '", p.name(),
                "' has dtype ", p.data().dtype(), ", expected float32");
      LNX_CHECK(seen.insert(p.impl_ptr().get()).second, type_name_, ": parameter '", p.name(),
                "' appears more than once across the parameter groups");
    }
    num_params_ += group.params.size();
  }
  LNX_CHECK(num_params_ > 0, type_name_, ": got an empty parameter list");
}

const ParamGroup& Optimizer::group(size_t g) const {
  LNX_CHECK(g < groups_.size(), type_name_, ": group ", g, " is out of range for ", groups_.size(),
            " groups");
  return groups_[g];
}

void Optimizer::set_lr(double lr) {
  for (size_t g = 0; g < groups_.size(); ++g) set_lr(g, lr);
}

void Optimizer::set_lr(size_t g, double lr) {
  LNX_CHECK(g < groups_.size(), type_name_, ": set_lr: group ", g, " is out of range for ",
            groups_.size(), " groups");
  LNX_CHECK(std::isfinite(lr) && lr >= 0.0, type_name_, ": set_lr: lr ", lr, " for group '",
            groups_[g].name, "' must be finite and >= 0");
  groups_[g].lr = lr;
}

void Optimizer::set_lr_factor(double factor) {
  LNX_CHECK(std::isfinite(factor) && factor >= 0.0, type_name_, ": set_lr_factor: factor ", factor,
            " must be finite and >= 0");
  for (auto& group : groups_) group.lr = group.initial_lr * factor;
}

void Optimizer::zero_grad() {
  for (auto& group : groups_) {
    for (auto& p : group.params) p.zero_grad();
  }
}

std::vector<Variable> Optimizer::parameters() const {
  std::vector<Variable> out;
  out.reserve(num_params_);
  for (const auto& group : groups_) out.insert(out.end(), group.params.begin(), group.params.end());
  return out;
}

bool Optimizer::use_fused(const Tensor& param, const Tensor& grad) const {
  return fused_ && param.device().is_cpu() && grad.device().is_cpu() && param.is_contiguous() &&
         grad.is_contiguous() && grad.dtype() == DType::Float32;
}

StateDict Optimizer::state_dict() const {
  StateDict out;
  for (size_t g = 0; g < groups_.size(); ++g) {
    out.insert(str("group.", g, ".lr"), double_to_tensor(groups_[g].lr));
    out.insert(str("group.", g, ".initial_lr"), double_to_tensor(groups_[g].initial_lr));
    out.insert(str("group.", g, ".weight_decay"), double_to_tensor(groups_[g].weight_decay));
  }
  const std::vector<StateSpec> specs = state_specs();
  for (size_t k = 0; k < num_params_; ++k) {
    for (const auto& spec : specs) {
      const Tensor& t = state(k, spec.name);
      // A copy: later steps update the state in place and must not change a saved dict.
      if (t.defined()) out.insert(str("state.", k, ".", spec.name), t.clone());
    }
  }
  return out;
}

void Optimizer::load_state_dict(const StateDict& dict) {
  const std::vector<Variable> params = parameters();
  const std::vector<StateSpec> specs = state_specs();
  std::set<std::string> known;
  const char* group_keys[] = {"lr", "initial_lr", "weight_decay"};
  for (size_t g = 0; g < groups_.size(); ++g) {
    for (const char* key : group_keys) {
      const std::string name = str("group.", g, ".", key);
      LNX_CHECK(dict.contains(name), type_name_, ": load_state_dict: missing key '", name,
                "' (the optimizer has ", groups_.size(), " groups)");
      const double v = tensor_to_double(dict.at(name));
      LNX_CHECK(std::isfinite(v) && v >= 0.0, type_name_, ": load_state_dict: '", name, "' is ", v,
                ", expected a finite value >= 0");
      known.insert(name);
    }
  }
  for (size_t k = 0; k < num_params_; ++k) {
    size_t present = 0;
    for (const auto& spec : specs) {
      const std::string name = str("state.", k, ".", spec.name);
      const Tensor* t = dict.find(name);
      if (t == nullptr) continue;
      ++present;
      known.insert(name);
      const Shape expected = spec.per_element ? params[k].shape() : Shape{};
      LNX_CHECK(t->shape() == expected, type_name_, ": load_state_dict: '", name, "' has shape ",
                to_string(t->shape()), ", expected ", to_string(expected), " (parameter '",
                params[k].name(), "')");
    }
    LNX_CHECK(present == 0 || present == specs.size(), type_name_, ": load_state_dict: parameter ",
              k, " has ", present, " of its ", specs.size(),
              " state entries; expected all or none");
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : dict) {
    if (!known.count(name)) unexpected.push_back(name);
  }
  if (!unexpected.empty()) {
    std::string list;
    for (size_t i = 0; i < unexpected.size() && i < 10; ++i)
      list += (i ? ", '" : "'") + unexpected[i] + "'";
    fail(type_name_, ": load_state_dict: unexpected keys ", list, " (", unexpected.size(),
         " in all; saved from another optimizer or a model with more parameters?)");
  }

  // Everything checked: now write.
  for (size_t g = 0; g < groups_.size(); ++g) {
    groups_[g].lr = tensor_to_double(dict.at(str("group.", g, ".lr")));
    groups_[g].initial_lr = tensor_to_double(dict.at(str("group.", g, ".initial_lr")));
    groups_[g].weight_decay = tensor_to_double(dict.at(str("group.", g, ".weight_decay")));
  }
  for (size_t k = 0; k < num_params_; ++k) {
    for (const auto& spec : specs) {
      const Tensor* t = dict.find(str("state.", k, ".", spec.name));
      Tensor& dst = state(k, spec.name);
      if (t == nullptr) {
        dst = Tensor();
      } else if (spec.per_element) {
        dst = t->to(DType::Float32).to(params[k].data().device()).clone();
      } else {
        dst = t->to(DType::Int64).cpu().clone();
      }
    }
  }
}

namespace {

double sum_of_squares(const Tensor& g) {
  if (g.device().is_cpu() && g.is_contiguous()) {
    const float* p = g.data<float>();
    double s = 0.0;
    for (int64_t i = 0; i < g.numel(); ++i) s += static_cast<double>(p[i]) * p[i];
    return s;
  }
  return ops::sum(ops::mul(g, g)).item();
}

double max_abs(const Tensor& g) {
  return ops::reduce(ReduceOp::AbsMax, g, {}, false).item();
}

}  // namespace

double clip_grad_norm(const std::vector<Variable>& params, double max_norm, double norm_type) {
  const bool inf_norm = std::isinf(norm_type) && norm_type > 0;
  LNX_CHECK(inf_norm || norm_type == 2.0, "clip_grad_norm: norm_type is ", norm_type,
            ", expected 2 or infinity");
  LNX_CHECK(max_norm > 0.0, "clip_grad_norm: max_norm is ", max_norm, ", expected > 0");
  NoGradGuard no_grad;
  double total = 0.0;
  for (const auto& p : params) {
    if (!p.defined() || !p.grad().defined()) continue;
    total = inf_norm ? std::max(total, max_abs(p.grad())) : total + sum_of_squares(p.grad());
  }
  if (!inf_norm) total = std::sqrt(total);
  const double coef = max_norm / (total + 1e-6);  // PyTorch's epsilon
  if (coef < 1.0) {
    for (const auto& p : params) {
      // A new tensor rather than mul_: the gradient may alias a tensor the graph still holds.
      if (p.defined() && p.grad().defined()) p.set_grad(ops::mul(p.grad(), coef));
    }
  }
  return total;
}

}  // namespace lnx
