// The one definition of every config key: name, type, default, allowed range
// and documentation, plus how to read and write it on a Config. Loading,
// validation, docs/config.md and `alibi-train --help` are all driven by this
// table, so they cannot drift apart. Defaults are not repeated here: they are
// read from a default-constructed Config.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/config.h"

namespace alibi {

enum class KeyType { Int, Int64, UInt64, Float, Bool, String, Enum };

// A key's value in typed form. The alternative follows the key's type:
// Int and Int64 hold int64_t, UInt64 uint64_t, Float a double that is exactly
// a float, Bool bool, String and Enum std::string (an enum by its name).
using KeyValue = std::variant<int64_t, uint64_t, double, bool, std::string>;

// One end of a numeric key's allowed range.
struct Limit {
  double value = 0;
  bool inclusive = true;
};

struct KeyRange {
  std::optional<Limit> min;
  std::optional<Limit> max;
};

struct ConfigKey {
  std::string name;                  // full name: "train.lr"
  KeyType type = KeyType::Int;
  std::vector<std::string> choices;  // Enum: the allowed names
  KeyRange range;                    // numeric keys; unbounded where unset
  bool required = false;             // no default: must be given, non-empty
  bool allow_empty = true;           // String: may the value be ""? (required: checked at the end)
  std::string doc;                   // one line
  std::function<KeyValue(const Config&)> get;
  std::function<void(Config&, const KeyValue&)> set;

  std::string_view section() const;  // "train"
  std::string_view field() const;    // "lr"
};

struct ConfigSection {
  std::string name;
  std::string doc;
};

// A check that spans several keys; `violation` returns "" when the config
// satisfies it, else a message naming the keys and their values.
struct CrossKeyRule {
  std::string doc;
  std::function<std::string(const Config&)> violation;
  // Reads model.* keys only: a checkpoint's model header must satisfy it too.
  bool model_only = false;
};

const std::vector<ConfigSection>& config_sections();
const std::vector<ConfigKey>& config_keys();
const std::vector<CrossKeyRule>& config_cross_key_rules();

const ConfigKey* find_config_key(std::string_view full_name);
bool is_config_section(std::string_view name);

// The valid section or full key name nearest to `typed` ("train.lrr" ->
// "train.lr", "lr" -> "train.lr", "trian" -> "train"), or "" when nothing is
// close enough to be a plausible typo.
std::string nearest_config_name(std::string_view typed);

// Parsing and printing values as YAML scalar text.
struct ParsedValue {
  std::optional<KeyValue> value;
  std::string problem;  // when !value: "expected an integer, got 'eight'"
};
ParsedValue parse_key_value(const ConfigKey& key, std::string_view text);
bool key_value_in_range(const ConfigKey& key, const KeyValue& value);
std::string format_key_value(const ConfigKey& key, const KeyValue& value);

const char* key_type_name(KeyType type);   // "int", "float", ...
std::string key_expectation(const ConfigKey& key);   // "an integer", "true or false", ...
std::string key_range_text(const ConfigKey& key);    // "[0, 1)", "> 0", "alibi, ..." or ""
std::string key_default_text(const ConfigKey& key);  // from Config{}; "(required)" if required

}  // namespace alibi
