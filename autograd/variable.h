// Variable: a tensor plus what autograd needs - its gradient, whether it requires one, a name
// for graph dumps, and the node that produced it. Copies share the same variable.
#pragma once

#include <memory>
#include <string>

#include "autograd/node.h"
#include "core/tensor.h"

namespace lnx {

struct VariableImpl {
  Tensor data;
  Tensor grad;  // undefined until a backward reaches this leaf
  bool requires_grad = false;
  std::string name;
  std::shared_ptr<Node> grad_fn;         // null for leaves
  std::weak_ptr<Node> grad_accumulator;  // leaves only, created on first use
};

class Variable {
 public:
  Variable() = default;
  explicit Variable(Tensor data, bool requires_grad = false, std::string name = "");

  bool defined() const { return impl_ != nullptr; }
  const Tensor& data() const { return impl().data; }
  // Replaces the tensor in place (optimizers, loading weights); bumps the version.
  void set_data(const Tensor& t) const;
  const Tensor& grad() const { return impl().grad; }
  void set_grad(const Tensor& g) const { impl().grad = g; }
  void zero_grad() const { impl().grad = Tensor(); }
  bool requires_grad() const { return defined() && impl().requires_grad; }
  Variable& set_requires_grad(bool r);
  const std::string& name() const { return impl().name; }
  Variable& set_name(std::string n);
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  // A new leaf sharing the data, cut from the graph.
  Variable detach() const { return Variable(data()); }

  const Shape& shape() const { return data().shape(); }
  int64_t dim() const { return data().dim(); }
  int64_t size(int64_t axis) const { return data().size(axis); }
  int64_t numel() const { return data().numel(); }
  double item() const { return data().item(); }

  // Backward from a scalar (gradient 1) or with an explicit upstream gradient.
  void backward(bool retain_graph = false) const;
  void backward(const Tensor& grad, bool retain_graph = false) const;

  // The node a consumer's edge should point to: grad_fn, or the leaf's accumulator; null when
  // no gradient is needed.
  std::shared_ptr<Node> gradient_edge() const;
  const std::shared_ptr<VariableImpl>& impl_ptr() const { return impl_; }

 private:
  VariableImpl& impl() const;
  std::shared_ptr<VariableImpl> impl_;
};

// Records an op's result. When grad mode is on and any input requires grad, the result gets a
// FunctionNode with edges to those inputs; otherwise it is a plain leaf. In anomaly mode the
// output is checked for NaN/Inf here.
// Throws naming `what` when t holds NaN or Inf (anomaly mode).
void check_finite_for_anomaly(const Tensor& t, const std::string& what);

Variable make_result(Tensor out, const char* op, const std::vector<const Variable*>& inputs,
                     BackwardFn backward);

}  // namespace lnx
