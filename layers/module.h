// Module: the unit a network is built from. A module owns named parameters (Variables that
// require grad), buffers (plain Tensors such as BatchNorm's running statistics) and child
// modules, each registered by a name unique within the module. Names of nested entries are
// dotted like PyTorch's (`layer1.0.conv1.weight`), so state dicts line up with PyTorch ones.
//
// Children are held by shared_ptr: a module can be kept by a caller (a typed handle returned by
// register_module) and by its parent at once, as in PyTorch.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/variable.h"
#include "core/device.h"
#include "layers/state_dict.h"

namespace lnx {

// What load_state_dict(strict = false) could not match, in module order.
struct LoadStateDictResult {
  std::vector<std::string> missing_keys;     // in the module, absent from the dict
  std::vector<std::string> unexpected_keys;  // in the dict, unknown to the module
};

class Module {
 public:
  explicit Module(std::string type_name = "Module") : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  // Copying would alias parameters and children silently; modules are shared by pointer.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The default throws: containers and multi-input modules need not have a one-input forward.
  virtual Variable forward(const Variable& x);
  Variable operator()(const Variable& x) { return forward(x); }

  const std::string& type_name() const { return type_name_; }

  // ---- registration (names: non-empty, no '.', unique across parameters/buffers/children) ----
  Variable register_parameter(const std::string& name, Tensor data, bool requires_grad = true);
  // An undefined tensor registers nothing but reserves the name (e.g. bias = false).
  Tensor register_buffer(const std::string& name, Tensor data);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

  // ---- this module's own entries ----
  Variable parameter(const std::string& name) const;  // throws when absent
  Tensor buffer(const std::string& name) const;       // throws when absent
  // Rebinds a registered buffer to a new tensor (a device move, a resize).
  void set_buffer(const std::string& name, Tensor data);
  std::shared_ptr<Module> child(const std::string& name) const;  // throws when absent
  bool has_child(const std::string& name) const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const {
    return children_;
  }

  // ---- recursive views, pre-order: own entries first, then each child's ----
  std::vector<std::pair<std::string, Variable>> named_parameters(bool recurse = true) const;
  std::vector<Variable> parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_buffers(bool recurse = true) const;
  // This module (name "") and every descendant; the pointers are non-owning views.
  std::vector<std::pair<std::string, Module*>> named_modules();
  std::vector<std::pair<std::string, const Module*>> named_modules() const;
  int64_t num_parameters() const;  // total element count

  // ---- mode ----
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // ---- state ----
  // Parameters and buffers under their dotted names. The tensors alias the module's storage;
  // clone() them for a snapshot.
  StateDict state_dict() const;
  // Copies values in place, so optimizers and views holding the tensors see the new values.
  // Every key and shape is checked before anything is written: a bad dict changes nothing.
  // Shape mismatches always throw; missing/unexpected keys throw only when strict.
  LoadStateDictResult load_state_dict(const StateDict& dict, bool strict = true);

  void zero_grad();  // drops every parameter's gradient
  // Moves parameters (in place, keeping the Variables) and buffers to `device`.
  void to(Device device);

  // The module tree, PyTorch-style: `Sequential(\n  (0): Linear(in_features=3, ...)\n)`.
  std::string repr() const;
  // The part inside the parentheses for a leaf module, e.g. "in_features=3, out_features=2".
  virtual std::string extra_repr() const { return ""; }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name, const char* what) const;
  void collect_parameters(const std::string& prefix, bool recurse,
                          std::vector<std::pair<std::string, Variable>>& out) const;
  void collect_buffers(const std::string& prefix, bool recurse,
                       std::vector<std::pair<std::string, Tensor>>& out) const;
  void collect_state(const std::string& prefix, StateDict& out) const;
  void repr_into(std::string& out, int indent) const;

  std::string type_name_;
  bool training_ = true;
  // Vectors, not maps: registration order is the order of state dicts and printouts.
  std::vector<std::pair<std::string, Variable>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::vector<std::string> reserved_;  // names registered with an undefined tensor
};

using ModulePtr = std::shared_ptr<Module>;

}  // namespace lnx
