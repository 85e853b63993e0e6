#include "core/checkpoint_io.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>

#include "core/safetensors.h"

namespace lnx {

namespace {

constexpr const char* kModelPrefix = "model/";
constexpr const char* kOptimPrefix = "optim/";
constexpr const char* kFormatKey = "format";
constexpr const char* kVersionKey = "format_version";

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

void Checkpoint::set_int(const std::string& key, int64_t value) {
  scalars[key] = std::to_string(value);
}

void Checkpoint::set_double(const std::string& key, double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  scalars[key] = buf;
}

void Checkpoint::set_string(const std::string& key, std::string value) {
  scalars[key] = std::move(value);
}

const std::string& Checkpoint::get_string(const std::string& key) const {
  const auto it = scalars.find(key);
  if (it == scalars.end()) fail("Checkpoint: no scalar '", key, "'");
  return it->second;
}

int64_t Checkpoint::get_int(const std::string& key) const {
  const std::string& s = get_string(key);
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty())
    fail("Checkpoint: scalar '", key, "' is '", s, "', expected an integer");
  return v;
}

double Checkpoint::get_double(const std::string& key) const {
  const std::string& s = get_string(key);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size())
    fail("Checkpoint: scalar '", key, "' is '", s, "', expected a number");
  return v;
}

void save_checkpoint(const std::string& path, const Checkpoint& ckpt) {
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, t] : ckpt.model) tensors.emplace(kModelPrefix + name, t);
  for (const auto& [name, t] : ckpt.optimizer) tensors.emplace(kOptimPrefix + name, t);
  std::map<std::string, std::string> metadata = ckpt.scalars;
  LNX_CHECK(!metadata.count(kFormatKey) && !metadata.count(kVersionKey), "save_checkpoint: '", path,
            "': the scalar names '", kFormatKey, "' and '", kVersionKey,
            "' are reserved for the file format");
  metadata[kFormatKey] = kCheckpointFormat;
  metadata[kVersionKey] = std::to_string(kCheckpointVersion);
  write_safetensors(path, tensors, metadata);
}

Checkpoint load_checkpoint(const std::string& path) {
  SafetensorsFile file = read_safetensors(path);
  const auto format = file.metadata.find(kFormatKey);
  if (format == file.metadata.end() || format->second != kCheckpointFormat)
    fail("load_checkpoint: '", path, "' is a safetensors file but not a lilnetx checkpoint (",
         kFormatKey, " is '", format == file.metadata.end() ? "<missing>" : format->second,
         "', expected '", kCheckpointFormat, "')");
  const auto version = file.metadata.find(kVersionKey);
  const std::string found = version == file.metadata.end() ? "<missing>" : version->second;
  if (found != std::to_string(kCheckpointVersion))
    fail("load_checkpoint: '", path, "' has ", kVersionKey, " '", found,
         "'; this build reads version ", kCheckpointVersion);
  file.metadata.erase(kFormatKey);
  file.metadata.erase(kVersionKey);

  Checkpoint ckpt;
  ckpt.scalars = std::move(file.metadata);
  for (auto& [name, t] : file.tensors) {
    if (starts_with(name, kModelPrefix))
      ckpt.model.emplace(name.substr(std::string(kModelPrefix).size()), std::move(t));
    else if (starts_with(name, kOptimPrefix))
      ckpt.optimizer.emplace(name.substr(std::string(kOptimPrefix).size()), std::move(t));
    else
      fail("load_checkpoint: '", path, "': tensor '", name, "' is under neither '", kModelPrefix,
           "' nor '", kOptimPrefix, "'");
  }
  return ckpt;
}

}  // namespace lnx
