// A training checkpoint as one safetensors file (layout in docs/checkpoint.md):
//   tensors  "model/<name>"  the model's state dict
//            "optim/<name>"  the optimizer's state (moments, step counts, ...)
//   metadata "format" = "lilnetx.checkpoint", "format_version" = "1", and every scalar
//            (epoch, best accuracy, RNG seed/offset, the resolved config YAML) as a string.
// Written to a temporary file and renamed, so a crash mid-save keeps the previous checkpoint.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/tensor.h"

namespace lnx {

struct Checkpoint {
  std::map<std::string, Tensor> model;
  std::map<std::string, Tensor> optimizer;
  std::map<std::string, std::string> scalars;

  // Typed access to `scalars`; doubles are stored with enough digits to round-trip exactly.
  void set_int(const std::string& key, int64_t value);
  void set_double(const std::string& key, double value);
  void set_string(const std::string& key, std::string value);
  bool has(const std::string& key) const { return scalars.count(key) > 0; }
  // Throw naming the key when it is missing or does not parse as the asked type.
  int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;
};

inline constexpr const char* kCheckpointFormat = "lilnetx.checkpoint";
inline constexpr int kCheckpointVersion = 1;

void save_checkpoint(const std::string& path, const Checkpoint& ckpt);
// Checks the format tag and version, and that every tensor is under model/ or optim/.
Checkpoint load_checkpoint(const std::string& path);

}  // namespace lnx
