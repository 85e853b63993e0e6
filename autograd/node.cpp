#include "autograd/node.h"

#include "autograd/variable.h"
#include "core/ops.h"

namespace lnx {

Node::~Node() {
  // The default destructor would release `next`, whose last owner destroys its own `next`, and
  // so on: recursion as deep as the graph. Instead, edges this node solely owns are moved to a
  // work list and emptied one by one, so every node dies with no edges left to recurse into.
  std::vector<std::shared_ptr<Node>> pending;
  auto take_edges = [&pending](std::vector<std::shared_ptr<Node>>& edges) {
    for (std::shared_ptr<Node>& e : edges)
      if (e && e.use_count() == 1) pending.push_back(std::move(e));
    edges.clear();
  };
  take_edges(next);
  while (!pending.empty()) {
    std::shared_ptr<Node> n = std::move(pending.back());
    pending.pop_back();
    take_edges(n->next);
  }  // n is destroyed here with no edges of its own
}

std::vector<Tensor> FunctionNode::apply(const Tensor& grad_out) {
  LNX_CHECK(fn_ != nullptr, "backward: trying to backward through the graph a second time (op '",
            op(),
            "' has already released its saved tensors); pass retain_graph=true to the "
            "first backward");
  return fn_(grad_out);
}

AccumulateGrad::AccumulateGrad(const std::shared_ptr<VariableImpl>& var)
    : Node("AccumulateGrad"), var_(var) {}

std::vector<Tensor> AccumulateGrad::apply(const Tensor& grad_out) {
  std::shared_ptr<VariableImpl> v = var_.lock();
  if (!v) return {};
  LNX_CHECK(grad_out.shape() == v->data.shape(), "backward: gradient of shape ",
            to_string(grad_out.shape()), " for leaf '", v->name, "' of shape ",
            to_string(v->data.shape()));
  if (!v->grad.defined()) {
    v->grad = grad_out.clone();  // the incoming tensor may be shared with other nodes
  } else {
    ops::add_(v->grad, grad_out);
  }
  return {};
}

const Tensor& SavedTensor::get() const {
  LNX_CHECK(t_.version() == version_, "backward of '", op_, "': a tensor of shape ",
            to_string(t_.shape()), " saved for backward was modified in place (version ", version_,
            " when saved, now ", t_.version(), ")");
  return t_;
}

}  // namespace lnx
