#include "layers/state_dict.h"

namespace lnx {

void StateDict::insert(std::string name, Tensor tensor) {
  LNX_CHECK(!contains(name), "StateDict::insert: key '", name, "' is already present");
  index_.emplace(name, items_.size());
  items_.emplace_back(std::move(name), std::move(tensor));
}

void StateDict::set(const std::string& name, Tensor tensor) {
  const auto it = index_.find(name);
  if (it == index_.end()) {
    insert(name, std::move(tensor));
  } else {
    items_[it->second].second = std::move(tensor);
  }
}

const Tensor* StateDict::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &items_[it->second].second;
}

const Tensor& StateDict::at(const std::string& name) const {
  const Tensor* t = find(name);
  LNX_CHECK(t != nullptr, "StateDict::at: no entry named '", name, "' (", size(), " entries)");
  return *t;
}

bool StateDict::erase(const std::string& name) {
  const auto it = index_.find(name);
  if (it == index_.end()) return false;
  items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(it->second));
  index_.clear();
  for (size_t i = 0; i < items_.size(); ++i) index_.emplace(items_[i].first, i);
  return true;
}

std::vector<std::string> StateDict::keys() const {
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const auto& [name, t] : items_) out.push_back(name);
  return out;
}

}  // namespace lnx
