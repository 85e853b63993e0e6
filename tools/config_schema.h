// The configuration schema: every key `lilnetx train` and friends read, with its type, default,
// allowed values and one line of documentation; the aliases other spellings map to; and the
// reference configs' sections that we recognise but ignore. Config::default_yaml() writes the
// schema out as commented YAML (copied in configs/README.md). A new key starts as an entry here.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tools/config.h"

namespace lnx::tools {

// One known key. `def` is YAML text; `choices`, when not empty, are the only allowed strings.
struct KeySpec {
  const char* key;
  Config::Type type;
  const char* def;
  const char* doc;
  std::vector<std::string> choices = {};
};

// Every key, grouped by section (the keys of a section are contiguous).
const std::vector<KeySpec>& schema();

// Other spellings users may know (from the task description or other frameworks); read as the
// canonical key, never written back.
const std::map<std::string, std::string>& aliases();

// Sections of the reference configs that only make sense for its PyTorch stack, with the reason.
const std::map<std::string, const char*>& ignored_sections();

}  // namespace lnx::tools
