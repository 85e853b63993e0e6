#include "layers/sequential.h"

namespace lnx {

Sequential::Sequential(const std::vector<ModulePtr>& modules) : Module("Sequential") {
  for (const auto& m : modules) push_back(m);
}

Variable Sequential::forward(const Variable& x) {
  Variable y = x;
  for (const auto& m : order_) y = m->forward(y);
  return y;
}

const ModulePtr& Sequential::operator[](size_t i) const {
  LNX_CHECK(i < order_.size(), "Sequential: index ", i, " is out of range for ", order_.size(),
            " modules");
  return order_[i];
}

}  // namespace lnx
