// StateDict: an insertion-ordered map name -> Tensor, the currency of checkpoints. Modules and
// optimizers produce one and load one; the order is the order entries were added (PyTorch's
// OrderedDict), so files written from it list tensors the way a reader expects.
#pragma once

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace lnx {

class StateDict {
 public:
  using Item = std::pair<std::string, Tensor>;

  // Throws when `name` is already present: two tensors under one key is always a bug.
  void insert(std::string name, Tensor tensor);
  // Replaces an existing entry or appends a new one.
  void set(const std::string& name, Tensor tensor);
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  const Tensor* find(const std::string& name) const;
  const Tensor& at(const std::string& name) const;  // throws naming the missing key
  bool erase(const std::string& name);

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  std::vector<std::string> keys() const;
  std::vector<Item>::const_iterator begin() const { return items_.begin(); }
  std::vector<Item>::const_iterator end() const { return items_.end(); }

 private:
  std::vector<Item> items_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace lnx
