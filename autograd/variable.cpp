#include "autograd/variable.h"

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "core/ops.h"

namespace lnx {

Variable::Variable(Tensor data, bool requires_grad, std::string name)
    : impl_(std::make_shared<VariableImpl>()) {
  LNX_CHECK(data.defined(), "Variable: data is an undefined tensor");
  LNX_CHECK(!requires_grad || data.dtype() == DType::Float32, "Variable '", name,
            "': only float32 tensors can require grad, got ", data.dtype());
  impl_->data = std::move(data);
  impl_->requires_grad = requires_grad;
  impl_->name = std::move(name);
}

VariableImpl& Variable::impl() const {
  LNX_CHECK(impl_ != nullptr, "Variable: use of an undefined variable");
  return *impl_;
}

void Variable::set_data(const Tensor& t) const {
  impl().data = t;
  t.bump_version();
}

Variable& Variable::set_requires_grad(bool r) {
  LNX_CHECK(is_leaf() || r, "set_requires_grad: cannot turn off grad on the non-leaf '", name(),
            "' (produced by ", grad_fn()->op(), "); use detach()");
  LNX_CHECK(!r || data().dtype() == DType::Float32, "set_requires_grad: variable '", name(),
            "' has dtype ", data().dtype(), ", only float32 can require grad");
  impl().requires_grad = r;
  return *this;
}

Variable& Variable::set_name(std::string n) {
  impl().name = std::move(n);
  return *this;
}

std::shared_ptr<Node> Variable::gradient_edge() const {
  if (!requires_grad()) return nullptr;
  if (impl_->grad_fn) return impl_->grad_fn;
  std::shared_ptr<Node> acc = impl_->grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(impl_);
    acc->out_shape = impl_->data.shape();
    impl_->grad_accumulator = acc;
  }
  return acc;
}

void Variable::backward(bool retain_graph) const {
  LNX_CHECK(numel() == 1, "backward: called without a gradient on a tensor of shape ",
            to_string(shape()), "; only a single-element output gets an implicit gradient of 1");
  backward(ones(shape(), DType::Float32, data().device()), retain_graph);
}

void Variable::backward(const Tensor& grad, bool retain_graph) const {
  run_backward(*this, grad, retain_graph);
}

namespace {

bool all_finite(const Tensor& t) {
  if (t.dtype() != DType::Float32 || t.numel() == 0) return true;
  // The minimum of the 0/1 mask, not a count compared with numel: a float32 count is inexact
  // past 2^24 elements and would flag a large finite tensor.
  const Tensor finite = ops::unary(UnaryOp::IsFinite, t);
  return ops::reduce(ReduceOp::Min, finite, {}, false).item() == 1.0;
}

}  // namespace

void check_finite_for_anomaly(const Tensor& t, const std::string& what) {
  LNX_CHECK(all_finite(t), "anomaly: ", what, " holds NaN or Inf (shape ", to_string(t.shape()),
            ")");
}

Variable make_result(Tensor out, const char* op, const std::vector<const Variable*>& inputs,
                     BackwardFn backward) {
  if (anomaly_mode()) check_finite_for_anomaly(out, str("the output of op '", op, "'"));
  bool needs_grad = false;
  if (grad_enabled())
    for (const Variable* v : inputs) needs_grad = needs_grad || v->requires_grad();
  Variable result(std::move(out));
  if (!needs_grad) return result;
  auto node = std::make_shared<FunctionNode>(op, std::move(backward));
  node->out_shape = result.shape();
  for (const Variable* v : inputs) node->next.push_back(v->gradient_edge());
  result.impl_ptr()->requires_grad = true;
  result.impl_ptr()->grad_fn = std::move(node);
  return result;
}

}  // namespace lnx
