#include "autograd/engine.h"

#include <sstream>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "autograd/grad_mode.h"
#include "core/ops.h"

namespace lnx {
namespace {

// Counts, for every node reachable from root, how many edges point at it.
std::unordered_map<Node*, int> count_dependencies(Node* root) {
  std::unordered_map<Node*, int> deps;
  std::unordered_set<Node*> seen{root};
  std::vector<Node*> stack{root};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const auto& next : n->next) {
      if (!next) continue;
      deps[next.get()]++;
      if (seen.insert(next.get()).second) stack.push_back(next.get());
    }
  }
  return deps;
}

}  // namespace

void run_backward(const Variable& root, const Tensor& grad, bool retain_graph) {
  LNX_CHECK(root.defined(), "backward: called on an undefined variable");
  LNX_CHECK(root.requires_grad(), "backward: variable '", root.name(), "' of shape ",
            to_string(root.shape()), " does not require grad and has no grad_fn");
  LNX_CHECK(grad.defined() && grad.shape() == root.shape(), "backward: gradient of shape ",
            grad.defined() ? to_string(grad.shape()) : "undefined", " for an output of shape ",
            to_string(root.shape()));
  const std::shared_ptr<Node> root_node = root.gradient_edge();
  NoGradGuard no_grad;  // backward formulas build no graph of their own

  std::unordered_map<Node*, int> deps = count_dependencies(root_node.get());
  std::unordered_map<Node*, Tensor> buffers{{root_node.get(), grad}};
  // Nodes are kept alive by the graph while we hold root_node; raw pointers are safe.
  std::vector<Node*> ready{root_node.get()};
  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    auto buf = buffers.find(node);
    const Tensor g = buf == buffers.end() ? Tensor() : std::move(buf->second);
    if (buf != buffers.end()) buffers.erase(buf);
    // A node no gradient reached (an input of an unused branch) still runs through the list so
    // its inputs' dependency counts drop, but computes nothing.
    std::vector<Tensor> grads;
    if (g.defined()) grads = node->apply(g);
    if (!retain_graph) node->release();
    for (size_t i = 0; i < node->next.size(); ++i) {
      Node* next = node->next[i].get();
      if (!next) continue;
      if (i < grads.size() && grads[i].defined()) {
        if (anomaly_mode())
          check_finite_for_anomaly(grads[i], str("the gradient computed by the backward of op '",
                                                 node->op(), "' for input ", i));
        LNX_CHECK(grads[i].shape() == next->out_shape, "backward of '", node->op(),
                  "': gradient for input ", i, " has shape ", to_string(grads[i].shape()),
                  ", expected ", to_string(next->out_shape));
        Tensor& slot = buffers[next];
        slot = slot.defined() ? ops::add(slot, grads[i]) : grads[i];
      }
      if (--deps[next] == 0) ready.push_back(next);
    }
  }
}

namespace {

struct GraphWalk {
  std::vector<Node*> order;  // root first
  std::unordered_map<Node*, int> id;
};

GraphWalk walk(const Variable& v) {
  GraphWalk w;
  const std::shared_ptr<Node> root = v.gradient_edge();
  if (!root) return w;
  std::vector<Node*> stack{root.get()};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    if (w.id.count(n)) continue;
    w.id[n] = static_cast<int>(w.order.size());
    w.order.push_back(n);
    for (auto it = n->next.rbegin(); it != n->next.rend(); ++it)
      if (*it && !w.id.count(it->get())) stack.push_back(it->get());
  }
  return w;
}

std::string label(Node* n) {
  if (auto* acc = dynamic_cast<AccumulateGrad*>(n)) {
    auto var = acc->variable();
    const std::string name = var && !var->name.empty() ? var->name : "leaf";
    return str(name, " ", to_string(n->out_shape));
  }
  return str(n->op(), " ", to_string(n->out_shape));
}

}  // namespace

std::string graph_text(const Variable& v) {
  const GraphWalk w = walk(v);
  if (w.order.empty()) return "(no graph: variable does not require grad)\n";
  std::ostringstream os;
  for (Node* n : w.order) {
    os << "#" << w.id.at(n) << " " << label(n);
    bool first = true;
    for (const auto& next : n->next) {
      if (!next) continue;
      os << (first ? " <- " : ", ") << "#" << w.id.at(next.get());
      first = false;
    }
    os << "\n";
  }
  return os.str();
}

std::string graph_dot(const Variable& v) {
  const GraphWalk w = walk(v);
  std::ostringstream os;
  os << "digraph autograd {\n  rankdir=BT;\n  node [shape=box, fontname=monospace];\n";
  for (Node* n : w.order) {
    const bool leaf = dynamic_cast<AccumulateGrad*>(n) != nullptr;
    os << "  n" << w.id.at(n) << " [label=\"" << label(n) << "\""
       << (leaf ? ", style=filled, fillcolor=lightblue" : "") << "];\n";
  }
  for (Node* n : w.order)
    for (const auto& next : n->next)
      if (next) os << "  n" << w.id.at(next.get()) << " -> n" << w.id.at(n) << ";\n";
  os << "}\n";
  return os.str();
}

}  // namespace lnx
