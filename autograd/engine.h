// The backward engine: runs nodes in reverse topological order, scheduled by dependency counts
// with an explicit work list (no recursion, so a 10,000-layer chain is fine).
#pragma once

#include <string>

#include "autograd/variable.h"

namespace lnx {

void run_backward(const Variable& root, const Tensor& grad, bool retain_graph);

// The graph that produced `v`, one node per line (text) or as Graphviz DOT.
std::string graph_text(const Variable& v);
std::string graph_dot(const Variable& v);

}  // namespace lnx
