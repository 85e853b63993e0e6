#include "tools/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "core/error.h"
#include "tools/config_schema.h"

namespace lnx::tools {

namespace {

using Type = Config::Type;
using Value = Config::Value;

const KeySpec* find_spec(const std::string& key) {
  for (const KeySpec& s : schema())
    if (key == s.key) return &s;
  return nullptr;
}

std::string canonical(const std::string& key) {
  const auto it = aliases().find(key);
  return it == aliases().end() ? key : it->second;
}

std::string first_part(const std::string& key) {
  return key.substr(0, key.find('.'));
}

std::string last_part(const std::string& key) {
  const auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

// True when `prefix` names a section or subsection (trainer, losses.wd).
bool is_section(const std::string& prefix) {
  for (const KeySpec& s : schema())
    if (std::string(s.key).rfind(prefix + ".", 0) == 0) return true;
  return false;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diag = up;
    }
  }
  return row[b.size()];
}

// "unknown key 'trainer.train_bacth' (in x.yaml); did you mean 'trainer.train_batch'? keys of
// 'trainer': ..." - the closest keys anywhere, then what the deepest known section allows.
[[noreturn]] void fail_unknown(const std::string& key, const std::string& origin) {
  std::ostringstream msg;
  msg << "config: unknown key '" << key << "'";
  if (!origin.empty()) msg << " (" << origin << ")";
  std::vector<std::pair<size_t, std::string>> close;
  const std::string leaf = last_part(key);
  if (key.find('.') == std::string::npos) {  // a misspelled section
    std::set<std::string> sections;
    for (const KeySpec& s : schema()) sections.insert(first_part(s.key));
    for (const std::string& s : sections)
      if (const size_t d = edit_distance(key, s); d <= std::max<size_t>(2, key.size() / 3))
        close.emplace_back(d, s);
  } else {
    for (const KeySpec& s : schema()) {
      const size_t d =
          std::min(edit_distance(key, s.key), edit_distance(leaf, last_part(s.key)) +
                                                  (first_part(key) == first_part(s.key) ? 0 : 1));
      if (d <= std::max<size_t>(2, leaf.size() / 3)) close.emplace_back(d, s.key);
    }
  }
  std::stable_sort(close.begin(), close.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  if (!close.empty()) {
    msg << "; did you mean ";
    for (size_t i = 0; i < close.size() && i < 3; ++i)
      msg << (i ? " or " : "") << "'" << close[i].second << "'";
    msg << "?";
  }
  std::string section = key;
  while (!section.empty() && !is_section(section)) {
    const auto dot = section.rfind('.');
    section = dot == std::string::npos ? "" : section.substr(0, dot);
  }
  if (section.empty()) {
    msg << " Sections:";
    std::set<std::string> seen;
    for (const KeySpec& s : schema())
      if (seen.insert(first_part(s.key)).second) msg << " " << first_part(s.key);
    for (const auto& [name, why] : ignored_sections()) msg << " " << name << " (ignored)";
  } else {
    msg << " Keys of '" << section << "':";
    std::set<std::string> seen;
    for (const KeySpec& s : schema()) {
      const std::string k = s.key;
      if (k.rfind(section + ".", 0) != 0) continue;
      const std::string rest = k.substr(section.size() + 1);
      const std::string child = rest.substr(0, rest.find('.'));
      if (seen.insert(child).second) msg << " " << child << (child == rest ? "" : ".*");
    }
  }
  throw Error(msg.str());
}

const char* type_text(Type t) {
  switch (t) {
    case Type::Bool:
      return "a boolean (true or false)";
    case Type::Int:
      return "an integer";
    case Type::Float:
      return "a number";
    case Type::String:
      return "a string";
    case Type::IntList:
      return "a list of integers such as [1, 2]";
    case Type::FloatList:
      return "a list of numbers such as [0.9, 0.999]";
    case Type::StringList:
      return "a list of strings such as ['a', 'b']";
  }
  return "?";
}

const char* value_type_text(const Value& v) {
  constexpr const char* names[] = {"a boolean",        "an integer",         "a number",
                                   "a string",         "a list of integers", "a list of numbers",
                                   "a list of strings"};
  return names[v.index()];
}

std::string node_text(const YAML::Node& node) {
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsNull()) return "empty";
  YAML::Emitter out;
  out << YAML::Flow << node;
  return out.c_str();
}

// A raw value before conversion, and where it came from for messages.
struct Raw {
  YAML::Node node;
  std::string origin;
};

std::optional<bool> to_bool(const std::string& s) {
  static const std::set<std::string> yes = {"true", "True", "TRUE", "yes", "Yes",
                                            "YES",  "on",   "On",   "ON"};
  static const std::set<std::string> no = {"false", "False", "FALSE", "no", "No",
                                           "NO",    "off",   "Off",   "OFF"};
  if (yes.count(s)) return true;
  if (no.count(s)) return false;
  return std::nullopt;
}

std::optional<int64_t> to_int(const std::string& s) {
  const char* b = s.data();
  const char* e = s.data() + s.size();
  if (b != e && *b == '+') ++b;
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || end != e || b == e) return std::nullopt;
  return v;
}

std::optional<double> to_double(const std::string& s) {
  if (s == ".inf" || s == ".Inf" || s == "+.inf") return HUGE_VAL;
  if (s == "-.inf" || s == "-.Inf") return -HUGE_VAL;
  if (s == ".nan" || s == ".NaN") return NAN;
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

Value convert(const std::string& key, const KeySpec& spec, const Raw& raw) {
  const auto bad = [&](const std::string& what) -> Error {
    return Error(str("config: '", key, "' is ", what, " (", raw.origin, "), expected ",
                     type_text(spec.type)));
  };
  const auto check_choice = [&](const std::string& s) {
    if (spec.choices.empty() ||
        std::find(spec.choices.begin(), spec.choices.end(), s) != spec.choices.end())
      return;
    std::string allowed;
    for (const auto& c : spec.choices) allowed += (allowed.empty() ? "" : ", ") + c;
    throw Error(
        str("config: '", key, "' is '", s, "' (", raw.origin, "), expected one of: ", allowed));
  };
  const YAML::Node& n = raw.node;
  const bool is_list =
      spec.type == Type::IntList || spec.type == Type::FloatList || spec.type == Type::StringList;
  if (is_list) {
    if (!n.IsSequence()) throw bad(node_text(n));
    std::vector<int64_t> ints;
    std::vector<double> floats;
    std::vector<std::string> strings;
    for (size_t i = 0; i < n.size(); ++i) {
      const YAML::Node item = n[i];
      const std::string where = str("item ", i, " ", node_text(item), " of ", node_text(n));
      if (!item.IsScalar()) throw bad(where);
      const std::string& s = item.Scalar();
      if (spec.type == Type::IntList) {
        const auto v = to_int(s);
        if (!v) throw bad(where);
        ints.push_back(*v);
      } else if (spec.type == Type::FloatList) {
        const auto v = to_double(s);
        if (!v) throw bad(where);
        floats.push_back(*v);
      } else {
        check_choice(s);
        strings.push_back(s);
      }
    }
    if (spec.type == Type::IntList) return ints;
    if (spec.type == Type::FloatList) return floats;
    return strings;
  }
  if (spec.type == Type::String && n.IsNull()) return std::string();
  if (!n.IsScalar()) throw bad(node_text(n));
  const std::string& s = n.Scalar();
  switch (spec.type) {
    case Type::Bool:
      if (const auto v = to_bool(s)) return *v;
      break;
    case Type::Int:
      if (const auto v = to_int(s)) return *v;
      break;
    case Type::Float:
      if (const auto v = to_double(s)) return *v;
      break;
    case Type::String:
      check_choice(s);
      return s;
    default:
      break;
  }
  throw bad(node_text(n));
}

bool is_copy(const YAML::Node& n) {
  return n.IsScalar() && n.Scalar().rfind("_copy:", 0) == 0;
}

class Loader {
 public:
  Loader() {
    for (const KeySpec& s : schema()) {
      try {
        raw_[s.key] = {YAML::Load(s.def), "default"};
      } catch (const YAML::Exception& e) {
        fail("config: the built-in default of '", s.key, "' is not YAML: ", e.what());
      }
    }
  }

  void add_yaml(const std::string& text, const std::string& source) {
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      fail("config: ", source, ": YAML syntax error at line ", e.mark.line + 1, ", column ",
           e.mark.column + 1, ": ", e.msg);
    }
    if (root.IsNull()) return;
    if (!root.IsMap())
      fail("config: ", source, ": the top level must be a mapping of sections, found ",
           node_text(root));
    for (const auto& kv : root) {
      const std::string name = kv.first.Scalar();
      if (ignored_sections().count(name)) {
        notice_ignored(name, source);
        continue;
      }
      if (!is_section(name)) fail_unknown(name, "in " + source);
      walk(kv.second, name, source);
    }
  }

  void add_overrides(const std::vector<std::string>& args) {
    for (size_t i = 0; i < args.size(); ++i) {
      const std::string& arg = args[i];
      if (arg.rfind("--", 0) != 0 || arg.size() == 2)
        fail("config: command-line override '", arg, "' should look like --section.key value");
      std::string key = arg.substr(2), text;
      if (const auto eq = key.find('='); eq != std::string::npos) {
        text = key.substr(eq + 1);
        key = key.substr(0, eq);
      } else {
        if (i + 1 >= args.size()) fail("config: override '", arg, "' has no value");
        text = args[++i];
      }
      if (ignored_sections().count(first_part(key))) {
        notice_ignored(first_part(key), "the command line");
        continue;
      }
      const std::string canon = canonical(key);
      if (!find_spec(canon)) {
        if (is_section(canon))
          fail("config: override '--", key, "' names a section; name one of its keys");
        fail_unknown(key, "on the command line");
      }
      // A shell-quoted `_copy: /a/b` or a string with ': ' would parse as a mapping; string
      // keys take such text as it is.
      const bool verbatim = text.empty() || text.rfind("_copy:", 0) == 0;
      YAML::Node node(text);
      if (!verbatim) {
        try {
          node = YAML::Load(text);
        } catch (const YAML::Exception& e) {
          if (find_spec(canon)->type != Type::String)
            fail("config: override '--", key, "' has value '", text, "' that is not YAML: ", e.msg);
        }
        if (find_spec(canon)->type == Type::String && !node.IsScalar()) node = YAML::Node(text);
      }
      raw_[canon] = {node, "from --" + key + " on the command line"};
    }
  }

  Config::Value resolve_and_convert(const std::string& key) {
    std::vector<std::string> chain;
    const Raw& raw = resolve(key, chain);
    return convert(key, *find_spec(key), raw);
  }

  std::vector<std::string> notices;

 private:
  void notice_ignored(const std::string& section, const std::string& source) {
    const std::string line = str("config: section '", section, "' (", source,
                                 ") is ignored: ", ignored_sections().at(section),
                                 " (accepted for compatibility with the reference configs)");
    if (std::find(notices.begin(), notices.end(), line) == notices.end()) notices.push_back(line);
  }

  void walk(const YAML::Node& node, const std::string& prefix, const std::string& source) {
    if (node.IsNull()) return;  // an empty section keeps its defaults
    if (!node.IsMap())
      fail("config: '", prefix, "' is a section and needs a mapping of keys (in ", source,
           "), found ", node_text(node));
    for (const auto& kv : node) {
      const std::string key = prefix + "." + kv.first.Scalar();
      const std::string canon = canonical(key);
      if (find_spec(canon)) {
        if (kv.second.IsMap())
          fail("config: '", key, "' is a key, not a section (in ", source, "), expected ",
               type_text(find_spec(canon)->type));
        raw_[canon] = {kv.second, "in " + source};
      } else if (is_section(canon)) {
        walk(kv.second, canon, source);
      } else {
        fail_unknown(key, "in " + source);
      }
    }
  }

  // Follows '_copy: /a/b' links; `chain` holds the keys being resolved, to report cycles.
  const Raw& resolve(const std::string& key, std::vector<std::string>& chain) {
    if (const auto it = resolved_.find(key); it != resolved_.end()) return it->second;
    const Raw& raw = raw_.at(key);
    if (!is_copy(raw.node)) return resolved_[key] = raw;
    if (std::find(chain.begin(), chain.end(), key) != chain.end()) {
      std::string cycle;
      for (auto it = std::find(chain.begin(), chain.end(), key); it != chain.end(); ++it)
        cycle += *it + " -> ";
      fail("config: '_copy' cycle: ", cycle, key);
    }
    std::string path = raw.node.Scalar().substr(6);
    path.erase(0, path.find_first_not_of(" \t"));
    path.erase(path.find_last_not_of(" \t") + 1);
    if (path.empty() || path[0] != '/')
      fail("config: '", key, "' is '", raw.node.Scalar(), "' (", raw.origin,
           "); a copy needs an absolute path such as '_copy: /trainer/epochs'");
    std::string target = path.substr(1);
    std::replace(target.begin(), target.end(), '/', '.');
    target = canonical(target);
    if (ignored_sections().count(first_part(target)))
      fail("config: '", key, "' copies '", path, "' from the ignored section '", first_part(target),
           "'");
    if (!find_spec(target)) {
      try {
        fail_unknown(target, "");
      } catch (const Error& e) {
        fail("config: '", key, "' copies '", path, "' (", raw.origin, "), but ",
             std::string(e.what()).substr(8));
      }
    }
    chain.push_back(key);
    Raw copied = resolve(target, chain);
    chain.pop_back();
    copied.origin = "copied from " + path + ", " + copied.origin;
    return resolved_[key] = copied;
  }

  std::map<std::string, Raw> raw_;
  std::map<std::string, Raw> resolved_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("config: cannot open '", path, "'");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Shortest text that reads back as the same double, always recognisable as a float (also by
// YAML 1.1 readers such as PyYAML, which need a dot in "1.0e-06").
std::string format_double(double v) {
  if (std::isnan(v)) return ".nan";
  if (std::isinf(v)) return v > 0 ? ".inf" : "-.inf";
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  const auto e = s.find('e');
  const std::string mantissa = s.substr(0, e);
  if (mantissa.find('.') == std::string::npos)
    s.insert(e == std::string::npos ? s.size() : e, ".0");
  return s;
}

std::string format_string(const std::string& s) {
  const bool plain = std::none_of(
      s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
  if (!plain) return nlohmann::json(s).dump();  // JSON strings are YAML double-quoted scalars
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

struct ValueFormatter {
  std::string operator()(bool b) const { return b ? "true" : "false"; }
  std::string operator()(int64_t i) const { return std::to_string(i); }
  std::string operator()(double d) const { return format_double(d); }
  std::string operator()(const std::string& s) const { return format_string(s); }
  template <typename T>
  std::string operator()(const std::vector<T>& list) const {
    std::string out = "[";
    for (size_t i = 0; i < list.size(); ++i) out += (i ? ", " : "") + (*this)(list[i]);
    return out + "]";
  }
};

std::string format_value(const Value& v) {
  return std::visit(ValueFormatter{}, v);
}

// Writes `key: text` lines nested by the dotted key, opening each section once; keys of a
// section are contiguous in the schema. Only the keys of `sections`, when it names any.
template <typename TextOf>
std::string write_nested(TextOf text_of, const std::vector<std::string>& sections = {}) {
  std::ostringstream out;
  std::vector<std::string> open;
  for (const KeySpec& s : schema()) {
    const std::string key = s.key;
    if (!sections.empty() &&
        std::find(sections.begin(), sections.end(), key.substr(0, key.find('.'))) == sections.end())
      continue;
    std::vector<std::string> parts;
    std::stringstream ss(s.key);
    for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
    size_t same = 0;
    while (same < open.size() && same + 1 < parts.size() && open[same] == parts[same]) ++same;
    open.resize(same);
    for (size_t d = same; d + 1 < parts.size(); ++d) {
      if (d == 0 && out.tellp() > 0) out << "\n";
      out << std::string(2 * d, ' ') << parts[d] << ":\n";
      open.push_back(parts[d]);
    }
    out << std::string(2 * (parts.size() - 1), ' ') << parts.back() << ": " << text_of(s) << "\n";
  }
  return out.str();
}

}  // namespace

Config Config::parse(const std::string& yaml, const std::vector<std::string>& overrides,
                     const std::string& source) {
  Loader loader;
  loader.add_yaml(yaml, source);
  loader.add_overrides(overrides);
  Config c;
  for (const KeySpec& s : schema()) c.values_[s.key] = loader.resolve_and_convert(s.key);
  c.notices_ = std::move(loader.notices);
  return c;
}

Config Config::load(const std::string& path, const std::vector<std::string>& overrides) {
  return parse(read_file(path), overrides, path);
}

Config Config::defaults() {
  return parse("");
}

const std::string& Config::default_yaml() {
  static const std::string text = [] {
    std::string head =
        "# lilnetx: every config key with its default (the LilNetX recipe for CIFAR-10\n"
        "# ResNet-20). A config file names only what it changes. '_copy: /section/key' takes\n"
        "# the value of another key. Sections dist, ffcv and wandb are accepted and ignored.\n"
        "# Other names accepted for a key:";
    for (const auto& [alias, key] : aliases()) head += " " + alias + "=" + key;
    head += "\n";
    return head + write_nested([](const KeySpec& s) {
             std::string line = std::string(s.def) + "  # " + s.doc;
             if (!s.choices.empty()) {
               line += " (";
               for (size_t i = 0; i < s.choices.size(); ++i) line += (i ? ", " : "") + s.choices[i];
               line += ")";
             }
             return line;
           });
  }();
  return text;
}

std::string Config::dump() const {
  return dump_sections({});
}

std::string Config::dump_sections(const std::vector<std::string>& sections) const {
  return write_nested([this](const KeySpec& s) { return format_value(values_.at(s.key)); },
                      sections);
}

bool Config::has(const std::string& key) const {
  return find_spec(canonical(key)) != nullptr;
}

std::vector<std::string> Config::keys() const {
  std::vector<std::string> out;
  for (const KeySpec& s : schema()) out.emplace_back(s.key);
  return out;
}

namespace {

template <typename T>
const char* requested_name() {
  if constexpr (std::is_same_v<T, bool>) return "bool";
  if constexpr (std::is_same_v<T, int>) return "int";
  if constexpr (std::is_same_v<T, int64_t>) return "int64_t";
  if constexpr (std::is_same_v<T, double>) return "double";
  if constexpr (std::is_same_v<T, std::string>) return "std::string";
  if constexpr (std::is_same_v<T, std::vector<int64_t>>) return "std::vector<int64_t>";
  if constexpr (std::is_same_v<T, std::vector<double>>) return "std::vector<double>";
  if constexpr (std::is_same_v<T, std::vector<std::string>>) return "std::vector<std::string>";
  return "?";
}

}  // namespace

template <typename T>
T Config::get(const std::string& key) const {
  const auto it = values_.find(canonical(key));
  if (it == values_.end()) fail_unknown(key, "asked by get");
  const Value& v = it->second;
  const auto mismatch = [&]() -> Error {
    return Error(str("config: get<", requested_name<T>(), ">('", key, "'): the key holds ",
                     value_type_text(v), " (", format_value(v), ")"));
  };
  if constexpr (std::is_same_v<T, double>) {
    if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  } else if constexpr (std::is_same_v<T, int>) {
    if (const auto* i = std::get_if<int64_t>(&v)) {
      if (*i < INT32_MIN || *i > INT32_MAX)
        fail("config: get<int>('", key, "'): ", *i, " does not fit in an int");
      return static_cast<int>(*i);
    }
    throw mismatch();
  } else if constexpr (std::is_same_v<T, std::vector<double>>) {
    if (const auto* i = std::get_if<std::vector<int64_t>>(&v))
      return std::vector<double>(i->begin(), i->end());
  }
  if constexpr (!std::is_same_v<T, int>) {
    if (const auto* p = std::get_if<T>(&v)) return *p;
  }
  throw mismatch();
}

template bool Config::get<bool>(const std::string&) const;
template int Config::get<int>(const std::string&) const;
template int64_t Config::get<int64_t>(const std::string&) const;
template double Config::get<double>(const std::string&) const;
template std::string Config::get<std::string>(const std::string&) const;
template std::vector<int64_t> Config::get<std::vector<int64_t>>(const std::string&) const;
template std::vector<double> Config::get<std::vector<double>>(const std::string&) const;
template std::vector<std::string> Config::get<std::vector<std::string>>(const std::string&) const;

}  // namespace lnx::tools
