#include "layers/module.h"

#include <algorithm>

#include "autograd/grad_mode.h"

namespace lnx {

namespace {

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

template <typename T>
const T* find_named(const std::vector<std::pair<std::string, T>>& items, const std::string& name) {
  for (const auto& [n, v] : items) {
    if (n == name) return &v;
  }
  return nullptr;
}

std::string list_names(const std::vector<std::string>& names, size_t max_shown = 10) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < max_shown; ++i) {
    if (i) out += ", ";
    out += "'" + names[i] + "'";
  }
  if (names.size() > max_shown) out += str(", ... (", names.size(), " in all)");
  return out;
}

// Pre-order walk shared by the const and non-const named_modules.
template <typename M, typename Out>
void walk_modules(M& m, const std::string& prefix, Out& out) {
  out.emplace_back(prefix, &m);
  for (const auto& [name, c] : m.named_children()) walk_modules<M>(*c, join(prefix, name), out);
}

}  // namespace

Variable Module::forward(const Variable&) {
  fail(type_name_, ": this module has no forward(Variable); call its own methods instead");
}

void Module::check_new_name(const std::string& name, const char* what) const {
  LNX_CHECK(!name.empty(), type_name_, ": cannot register a ", what, " with an empty name");
  LNX_CHECK(name.find('.') == std::string::npos, type_name_, ": ", what, " name '", name,
            "' contains '.', which separates nested names");
  const bool taken = find_named(params_, name) || find_named(buffers_, name) ||
                     find_named(children_, name) ||
                     std::find(reserved_.begin(), reserved_.end(), name) != reserved_.end();
  LNX_CHECK(!taken, type_name_, ": cannot register ", what, " '", name,
            "': the name is already used by a parameter, buffer or child");
}

Variable Module::register_parameter(const std::string& name, Tensor data, bool requires_grad) {
  check_new_name(name, "parameter");
  if (!data.defined()) {
    reserved_.push_back(name);
    return Variable();
  }
  LNX_CHECK(data.dtype() == DType::Float32, type_name_, ": parameter '", name,
            "' must be float32, got ", data.dtype());
  Variable v(std::move(data), requires_grad, name);
  params_.emplace_back(name, v);
  return v;
}

Tensor Module::register_buffer(const std::string& name, Tensor data) {
  check_new_name(name, "buffer");
  if (!data.defined()) {
    reserved_.push_back(name);
    return data;
  }
  buffers_.emplace_back(name, data);
  return data;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  LNX_CHECK(module != nullptr, type_name_, ": cannot register child '", name, "': it is null");
  LNX_CHECK(module.get() != this, type_name_, ": cannot register itself as child '", name, "'");
  check_new_name(name, "child module");
  children_.emplace_back(name, std::move(module));
}

Variable Module::parameter(const std::string& name) const {
  const Variable* v = find_named(params_, name);
  LNX_CHECK(v != nullptr, type_name_, ": no parameter named '", name, "'");
  return *v;
}

Tensor Module::buffer(const std::string& name) const {
  const Tensor* t = find_named(buffers_, name);
  LNX_CHECK(t != nullptr, type_name_, ": no buffer named '", name, "'");
  return *t;
}

void Module::set_buffer(const std::string& name, Tensor data) {
  for (auto& [n, t] : buffers_) {
    if (n == name) {
      t = std::move(data);
      return;
    }
  }
  fail(type_name_, ": set_buffer: no buffer named '", name, "'");
}

std::shared_ptr<Module> Module::child(const std::string& name) const {
  const std::shared_ptr<Module>* c = find_named(children_, name);
  LNX_CHECK(c != nullptr, type_name_, ": no child module named '", name, "'");
  return *c;
}

bool Module::has_child(const std::string& name) const {
  return find_named(children_, name) != nullptr;
}

void Module::collect_parameters(const std::string& prefix, bool recurse,
                                std::vector<std::pair<std::string, Variable>>& out) const {
  for (const auto& [name, v] : params_) out.emplace_back(join(prefix, name), v);
  if (!recurse) return;
  for (const auto& [name, c] : children_) c->collect_parameters(join(prefix, name), true, out);
}

void Module::collect_buffers(const std::string& prefix, bool recurse,
                             std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [name, t] : buffers_) out.emplace_back(join(prefix, name), t);
  if (!recurse) return;
  for (const auto& [name, c] : children_) c->collect_buffers(join(prefix, name), true, out);
}

std::vector<std::pair<std::string, Variable>> Module::named_parameters(bool recurse) const {
  std::vector<std::pair<std::string, Variable>> out;
  collect_parameters("", recurse, out);
  return out;
}

std::vector<Variable> Module::parameters(bool recurse) const {
  std::vector<Variable> out;
  for (auto& [name, v] : named_parameters(recurse)) out.push_back(std::move(v));
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect_buffers("", recurse, out);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  walk_modules<Module>(*this, "", out);
  return out;
}

std::vector<std::pair<std::string, const Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, const Module*>> out;
  walk_modules<const Module>(*this, "", out);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& [name, v] : named_parameters()) n += v.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, c] : children_) c->train(on);
}

void Module::collect_state(const std::string& prefix, StateDict& out) const {
  // PyTorch's order: a module's own parameters, its own buffers, then each child's.
  for (const auto& [name, v] : params_) out.insert(join(prefix, name), v.data());
  for (const auto& [name, t] : buffers_) out.insert(join(prefix, name), t);
  for (const auto& [name, c] : children_) c->collect_state(join(prefix, name), out);
}

StateDict Module::state_dict() const {
  StateDict out;
  collect_state("", out);
  return out;
}

LoadStateDictResult Module::load_state_dict(const StateDict& dict, bool strict) {
  const StateDict own = state_dict();
  LoadStateDictResult result;
  std::vector<std::string> mismatches;
  for (const auto& [name, dst] : own) {
    const Tensor* src = dict.find(name);
    if (src == nullptr) {
      result.missing_keys.push_back(name);
    } else if (src->shape() != dst.shape()) {
      mismatches.push_back(str("'", name, "': checkpoint has ", to_string(src->shape()),
                               ", module has ", to_string(dst.shape())));
    }
  }
  for (const auto& [name, src] : dict) {
    if (!own.contains(name)) result.unexpected_keys.push_back(name);
  }
  std::string problems;
  if (!mismatches.empty()) {
    problems += "shape mismatch for ";
    for (size_t i = 0; i < mismatches.size(); ++i) problems += (i ? "; " : "") + mismatches[i];
  }
  if (strict && !result.missing_keys.empty()) {
    problems +=
        str(problems.empty() ? "" : "; ", "missing keys: ", list_names(result.missing_keys));
  }
  if (strict && !result.unexpected_keys.empty()) {
    problems +=
        str(problems.empty() ? "" : "; ", "unexpected keys: ", list_names(result.unexpected_keys));
  }
  LNX_CHECK(problems.empty(), "load_state_dict (", type_name_, "): ", problems);

  NoGradGuard no_grad;
  for (const auto& [name, dst] : own) {
    const Tensor* src = dict.find(name);
    if (src == nullptr) continue;
    dst.copy_(src->dtype() == dst.dtype() ? *src : src->to(dst.dtype()));
  }
  return result;
}

void Module::zero_grad() {
  for (auto& [name, v] : named_parameters()) v.zero_grad();
}

void Module::to(Device device) {
  for (auto& [name, v] : params_) {
    if (v.data().device() != device) {
      v.set_data(v.data().to(device));
      v.zero_grad();
    }
  }
  for (auto& [name, t] : buffers_) {
    if (t.device() != device) t = t.to(device);
  }
  for (auto& [name, c] : children_) c->to(device);
}

std::string Module::repr() const {
  std::string out;
  repr_into(out, 0);
  return out;
}

void Module::repr_into(std::string& out, int indent) const {
  out += type_name_ + "(" + extra_repr();
  if (children_.empty()) {
    out += ")";
    return;
  }
  const std::string pad(static_cast<size_t>(indent + 2), ' ');
  out += "\n";
  for (const auto& [name, c] : children_) {
    out += pad + "(" + name + "): ";
    c->repr_into(out, indent + 2);
    out += "\n";
  }
  out += std::string(static_cast<size_t>(indent), ' ') + ")";
}

}  // namespace lnx
