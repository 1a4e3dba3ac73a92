// Loading a config: YAML or JSON text -> Config, then --set overrides, then
// validation. Every key's type, range and default come from config/schema.h;
// this file only walks documents and words the errors.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "config/config.h"
#include "config/schema.h"

namespace alibi {
namespace {

// Where a value came from; errors are worded after it.
struct ValueSource {
  std::string origin;    // "configs/x.yaml" or "--set train.lr=abc"
  bool is_override = false;
};

[[noreturn]] void fail(const std::string& message) { throw ConfigError(message); }

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}

// An unknown name is most often a typo: name the nearest valid one, or, when
// nothing is close, list the valid names so the user need not open the docs.
[[noreturn]] void fail_unknown(const std::string& prefix, std::string_view typed,
                               const std::string& valid_names) {
  std::string nearest = nearest_config_name(typed);
  if (!nearest.empty()) fail(prefix + "; did you mean '" + nearest + "'?");
  fail(prefix + "; " + valid_names);
}

[[noreturn]] void fail_unknown_key(const std::string& origin, const std::string& name) {
  std::string_view section = std::string_view(name).substr(0, name.find('.'));
  std::vector<std::string> fields;
  for (const ConfigKey& k : config_keys()) {
    if (k.section() == section) fields.emplace_back(k.field());
  }
  fail_unknown(origin + ": unknown key '" + name + "'", name,
               "the keys of section '" + std::string(section) + "' are: " + join(fields));
}

[[noreturn]] void fail_unknown_section(const std::string& origin, const std::string& name) {
  std::vector<std::string> sections;
  for (const ConfigSection& s : config_sections()) sections.push_back(s.name);
  fail_unknown(origin + ": unknown section '" + name + "'", name,
               "the sections are: " + join(sections));
}

// How a non-scalar node reads in "expected ..., got <this>".
std::string describe_node(const YAML::Node& node) {
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  if (node.IsNull()) return "an empty value";
  return "'" + node.Scalar() + "'";
}

[[noreturn]] void fail_value(const ValueSource& source, const ConfigKey& key,
                             const std::string& problem) {
  if (source.is_override) fail(source.origin + ": " + problem);
  fail(source.origin + ": " + key.name + ": " + problem);
}

[[noreturn]] void fail_range(const ValueSource& source, const ConfigKey& key,
                             const std::string& text) {
  if (key.type == KeyType::String) fail(source.origin + ": " + key.name + " must not be empty");
  std::string range = key_range_text(key);
  bool interval = range.starts_with('[') || range.starts_with('(');
  std::string verdict =
      interval ? "is out of range " + range : "is out of range (must be " + range + ")";
  // An override already shows its value ("--set model.dropout=1.5"); a file line does not.
  if (source.is_override) fail(source.origin + ": " + key.name + " " + verdict);
  fail(source.origin + ": " + key.name + " = " + text + " " + verdict);
}

// Assigns one key from its YAML node, checking type and range.
void assign(const ConfigKey& key, const YAML::Node& node, const ValueSource& source,
            Config& config) {
  std::string text;
  if (node.IsScalar()) {
    text = node.Scalar();
  } else if (!(node.IsNull() && key.type == KeyType::String)) {
    // An empty string value reads as "" (e.g. "checkpoint.dir:"); other types need a value.
    fail_value(source, key,
               "expected " + key_expectation(key) + ", got " + describe_node(node));
  }
  ParsedValue parsed = parse_key_value(key, text);
  if (!parsed.value) fail_value(source, key, parsed.problem);
  if (!key_value_in_range(key, *parsed.value)) fail_range(source, key, text);
  key.set(config, *parsed.value);
}

// JSON gets its own parser so that syntax errors read as JSON errors; the
// tree is then converted to the YAML form the rest of the loader walks.
YAML::Node json_to_yaml(const nlohmann::json& json) {
  if (json.is_object()) {
    YAML::Node map(YAML::NodeType::Map);
    for (const auto& [name, value] : json.items()) map[name] = json_to_yaml(value);
    return map;
  }
  if (json.is_array()) {
    YAML::Node list(YAML::NodeType::Sequence);
    for (const auto& item : json) list.push_back(json_to_yaml(item));
    return list;
  }
  if (json.is_null()) return YAML::Node(YAML::NodeType::Null);
  if (json.is_string()) return YAML::Node(json.get<std::string>());
  return YAML::Node(json.dump());  // numbers and booleans, in their JSON spelling
}

bool names_json_file(const std::string& origin) {
  std::string extension = std::filesystem::path(origin).extension().string();
  for (char& c : extension) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return extension == ".json";
}

// Deeper than any config needs, shallow enough for the recursive conversion.
constexpr int kMaxJsonDepth = 64;

// Watches the parse: nesting is bounded before json_to_yaml recurses over
// it, and a key given twice in one object is refused as YAML's are
// (nlohmann::json would silently keep the last).
class JsonGuard {
 public:
  explicit JsonGuard(std::string origin) : origin_(std::move(origin)) {}

  bool operator()(int depth, nlohmann::json::parse_event_t event, const nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if ((event == Event::object_start || event == Event::array_start) && depth >= kMaxJsonDepth)
      fail(origin_ + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    if (event == Event::object_start) objects_.emplace_back();
    if (event == Event::object_end) objects_.pop_back();
    if (event == Event::key) note_key(parsed.get<std::string>());
    return true;
  }

 private:
  struct OpenObject {
    std::set<std::string> keys;
    std::string current;  // the key whose value is being parsed
  };

  void note_key(const std::string& key) {
    std::string path;
    for (size_t i = 0; i + 1 < objects_.size(); ++i) path += objects_[i].current + ".";
    if (!objects_.back().keys.insert(key).second) fail(origin_ + ": key '" + path + key + "' is given twice");
    objects_.back().current = key;
  }

  std::string origin_;
  std::vector<OpenObject> objects_;
};

YAML::Node parse_json_document(const std::string& text, const std::string& origin) {
  try {
    return json_to_yaml(nlohmann::json::parse(text, JsonGuard(origin)));
  } catch (const nlohmann::json::exception& error) {
    // Syntax errors, and numbers out of range ("1e400"); what() is
    // "[json.exception.parse_error.101] parse error at line 3, column 5: ...".
    std::string message = error.what();
    size_t detail = message.find("] ");
    if (detail != std::string::npos) message = message.substr(detail + 2);
    const bool syntax = dynamic_cast<const nlohmann::json::parse_error*>(&error) != nullptr;
    fail(origin + (syntax ? ": JSON syntax error: " : ": invalid JSON: ") + message);
  }
}

YAML::Node parse_yaml_document(const std::string& text, const std::string& origin) {
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& error) {
    fail(origin + ": YAML syntax error at line " + std::to_string(error.mark.line + 1) +
         ", column " + std::to_string(error.mark.column + 1) + ": " + error.msg);
  }
}

// Applies a document of sections, each a mapping of keys, to `config`.
void apply_document(const YAML::Node& root, const std::string& origin, Config& config) {
  if (root.IsNull()) return;  // an empty file: all defaults
  if (!root.IsMap()) fail(origin + ": expected a mapping of sections, got " + describe_node(root));
  std::set<std::string> seen;
  for (const auto& section_entry : root) {
    std::string section = section_entry.first.as<std::string>("");
    if (!is_config_section(section)) fail_unknown_section(origin, section);
    const YAML::Node& body = section_entry.second;
    if (body.IsNull()) continue;  // "train:" with every key left at its default
    if (!body.IsMap())
      fail(origin + ": section '" + section + "' must be a mapping of keys, got " +
           describe_node(body));
    for (const auto& key_entry : body) {
      std::string name = section + "." + key_entry.first.as<std::string>("");
      const ConfigKey* key = find_config_key(name);
      if (!key) fail_unknown_key(origin, name);
      // yaml-cpp keeps both of two equal keys; the second would silently win.
      if (!seen.insert(name).second) fail(origin + ": key '" + name + "' is given twice");
      assign(*key, key_entry.second, ValueSource{origin, false}, config);
    }
  }
}

// Applies one "section.key=value" override; the value is a YAML scalar.
void apply_override(const std::string& override_text, Config& config) {
  std::string origin = "--set " + override_text;
  size_t equals = override_text.find('=');
  if (equals == std::string::npos) {
    std::string nearest = nearest_config_name(override_text);
    std::string example = nearest.empty() ? "train.lr=3e-4" : nearest + "=<value>";
    fail(origin + ": expected section.key=value, e.g. --set " + example);
  }
  std::string name = override_text.substr(0, equals);
  const ConfigKey* key = find_config_key(name);
  if (!key) fail_unknown_key(origin, name);
  YAML::Node value;
  try {
    value = YAML::Load(override_text.substr(equals + 1));
  } catch (const YAML::ParserException& error) {
    fail(origin + ": the value is not valid YAML: " + error.msg);
  }
  assign(*key, value, ValueSource{origin, true}, config);
}

void check_whole_config(const Config& config, const std::string& origin) {
  for (const ConfigKey& key : config_keys()) {
    if (!key.required) continue;
    const KeyValue value = key.get(config);
    if (std::get<std::string>(value).empty())
      fail(origin + ": missing required key '" + key.name + "' (set " + std::string(key.field()) +
           " in the file's " + std::string(key.section()) + " section, or --set " + key.name +
           "=<value>)");
  }
  for (const CrossKeyRule& rule : config_cross_key_rules()) {
    std::string violation = rule.violation(config);
    if (!violation.empty()) fail(origin + ": " + violation);
  }
}

}  // namespace

Config parse_config(const std::string& text, const std::string& origin,
                    const std::vector<std::string>& overrides) {
  YAML::Node root = names_json_file(origin) ? parse_json_document(text, origin)
                                            : parse_yaml_document(text, origin);
  Config config;
  apply_document(root, origin, config);
  for (const std::string& override_text : overrides) apply_override(override_text, config);
  // A whole-config problem may come from the file or from an override.
  check_whole_config(config, overrides.empty() ? origin : origin + " with --set");
  return config;
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) fail("config file '" + path + "' not found");
  if (std::filesystem::is_directory(path, error))
    fail("config file '" + path + "' is a directory, not a file");
  std::ifstream file(path, std::ios::binary);
  if (!file) fail("config file '" + path + "' cannot be read");
  std::ostringstream text;
  text << file.rdbuf();
  return parse_config(text.str(), path, overrides);
}

std::string config_to_yaml(const Config& config) {
  std::ostringstream out;
  out << "# Fully resolved alibi-lm config: every key, defaults included.\n";
  for (const ConfigSection& section : config_sections()) {
    out << section.name << ":\n";
    for (const ConfigKey& key : config_keys()) {
      if (key.section() != section.name) continue;
      std::string text = format_key_value(key, key.get(config));
      // Strings are always double-quoted so that "", "null", "123" or "a: b" read back as written.
      if (key.type == KeyType::String) text = nlohmann::json(text).dump();
      out << "  " << key.field() << ": " << text << "\n";
    }
  }
  return out.str();
}

}  // namespace alibi
