// Sequential: children applied in order, named "0", "1", ... like torch.nn.Sequential, or by a
// given name.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"

namespace lnx {

class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  explicit Sequential(const std::vector<ModulePtr>& modules);
  Sequential(std::initializer_list<ModulePtr> modules)
      : Sequential(std::vector<ModulePtr>(modules)) {}

  // Appends under the next index as its name.
  template <typename M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    return push_back(std::to_string(order_.size()), std::move(module));
  }
  template <typename M>
  std::shared_ptr<M> push_back(const std::string& name, std::shared_ptr<M> module) {
    register_module(name, module);
    order_.push_back(module);
    return module;
  }

  Variable forward(const Variable& x) override;

  size_t size() const { return order_.size(); }
  bool empty() const { return order_.empty(); }
  const ModulePtr& operator[](size_t i) const;  // throws when out of range
  // The i-th child cast to its type; throws when it is another type.
  template <typename M>
  std::shared_ptr<M> at(size_t i) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[i]);
    LNX_CHECK(m != nullptr, "Sequential::at: child ", i, " is a ", (*this)[i]->type_name(),
              ", not the type asked for");
    return m;
  }

 private:
  std::vector<ModulePtr> order_;
};

}  // namespace lnx
