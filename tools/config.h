// Training configuration: YAML in the layout of the LilNetX reference configs (sections trainer,
// lr_schedule, optimizer, dataset, network, losses, checkpoint, logging, common), checked
// against a schema of known keys with types and defaults.
//
//   defaults  <-  the YAML file  <-  command-line overrides (--trainer.train_batch 512)
//   then every '_copy: /section/key' value is replaced by the value at that path, and every
//   value is converted to its key's type.
//
// Sections dist, ffcv and wandb of the reference configs are accepted and ignored (one notice
// each). Unknown keys, wrong types and _copy cycles are errors that name the dotted key.
// Every key, its default and its meaning: Config::default_yaml(), copied in configs/README.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace lnx::tools {

class Config {
 public:
  enum class Type { Bool, Int, Float, String, IntList, FloatList, StringList };
  using Value = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>,
                             std::vector<double>, std::vector<std::string>>;

  // `overrides` are command-line words: "--section.key", "value" pairs or "--section.key=value";
  // values parse as YAML (512, 1e-3, true, cosine, [1, 2], '_copy: /trainer/epochs').
  static Config load(const std::string& path, const std::vector<std::string>& overrides = {});
  // The same from YAML text; `source` names it in messages.
  static Config parse(const std::string& yaml, const std::vector<std::string>& overrides = {},
                      const std::string& source = "<string>");
  static Config defaults();
  // Every known key with its default and a comment saying what it does.
  static const std::string& default_yaml();

  // Typed access by dotted key. get<double> also reads integer keys and
  // get<std::vector<double>> integer lists; other mismatches and unknown keys throw.
  // Instantiated for bool, int, int64_t, double, std::string and vectors of int64_t, double,
  // std::string.
  template <typename T>
  T get(const std::string& key) const;
  bool has(const std::string& key) const;  // a known key (aliases included)
  std::vector<std::string> keys() const;   // every canonical key, in schema order

  // One line per accepted-but-ignored section; the caller prints them.
  const std::vector<std::string>& notices() const { return notices_; }

  // The fully resolved config as YAML, loadable again with parse(); saved next to checkpoints.
  std::string dump() const;
  // Only the keys of these sections ("network", "dataset"); parse() gives the rest defaults.
  std::string dump_sections(const std::vector<std::string>& sections) const;

 private:
  std::map<std::string, Value> values_;
  std::vector<std::string> notices_;
};

}  // namespace lnx::tools
