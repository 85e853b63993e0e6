// Graph nodes. Each differentiable op records one Node: the op's name, an edge to the node of
// each input that needs a gradient, and a backward function holding what it saved. Leaves that
// require grad get an AccumulateGrad node, which adds the incoming gradient into the leaf.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace lnx {

struct VariableImpl;

class Node {
 public:
  explicit Node(std::string op) : op_(std::move(op)) {}
  virtual ~Node();  // iterative: dropping a 100,000-node chain must not recurse that deep

  const std::string& op() const { return op_; }
  // One entry per input of the op; null where that input needs no gradient.
  std::vector<std::shared_ptr<Node>> next;
  Shape out_shape;  // shape of the gradient this node receives

  // Gradient of each input (same order as `next`; undefined where not needed).
  virtual std::vector<Tensor> apply(const Tensor& grad_out) = 0;
  // Drops saved tensors once backward has run without retain_graph.
  virtual void release() {}

 private:
  std::string op_;
};

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out)>;

// The node every op records: backward is a lambda that captured what it saved.
class FunctionNode final : public Node {
 public:
  FunctionNode(std::string op, BackwardFn fn) : Node(std::move(op)), fn_(std::move(fn)) {}
  std::vector<Tensor> apply(const Tensor& grad_out) override;
  void release() override { fn_ = nullptr; }

 private:
  BackwardFn fn_;
};

class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(const std::shared_ptr<VariableImpl>& var);
  std::vector<Tensor> apply(const Tensor& grad_out) override;
  std::shared_ptr<VariableImpl> variable() const { return var_.lock(); }

 private:
  std::weak_ptr<VariableImpl> var_;  // weak: the leaf owns its accumulator, not the reverse
};

// A tensor saved for backward with the version it had, so an in-place edit made afterwards
// makes backward throw instead of silently using the new values.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(Tensor t, const char* op) : t_(std::move(t)), version_(t_.version()), op_(op) {}
  const Tensor& get() const;

 private:
  Tensor t_;
  uint64_t version_ = 0;
  const char* op_ = "";
};

}  // namespace lnx
