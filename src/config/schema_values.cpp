// Config values as text: parsing what a user wrote for a key, range checks,
// and the text of values, ranges and defaults for messages, docs and --help.
#include "config/schema.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace alibi {

// ---------------------------------------------------------------------------
// Values as text.
// ---------------------------------------------------------------------------
namespace {

std::string_view without_plus(std::string_view text) {
  return text.starts_with('+') ? text.substr(1) : text;
}

template <class Number>
std::optional<Number> parse_exactly(std::string_view text) {
  text = without_plus(text);
  Number value{};
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if constexpr (std::is_floating_point_v<Number>) {
    if (!std::isfinite(value)) return std::nullopt;
  }
  return value;
}

// Integers may also be written in float notation when the value is integral
// ("steps: 1e5"); doubles hold such integers exactly up to 2^53.
std::optional<double> integral_float(std::string_view text) {
  auto value = parse_exactly<double>(text);
  if (!value || std::trunc(*value) != *value || std::fabs(*value) > 9007199254740992.0)
    return std::nullopt;
  return value;
}

std::string quoted(std::string_view text) {
  std::string result = "'";  // appends: GCC 12 warns (falsely, -Wrestrict) on "'" + std::string(text)
  result += text;
  return result + "'";
}

ParsedValue problem(std::string expectation, std::string_view text) {
  return {std::nullopt, "expected " + std::move(expectation) + ", got " + quoted(text)};
}

std::string or_list(const std::vector<std::string>& names) {
  std::string text;
  for (size_t i = 0; i < names.size(); ++i) {
    text += i == 0 ? "" : i + 1 == names.size() ? " or " : ", ";
    text += names[i];
  }
  return text;
}

ParsedValue parse_signed(const ConfigKey& key, std::string_view text) {
  std::optional<int64_t> value = parse_exactly<int64_t>(text);
  if (!value) {
    if (auto whole = integral_float(text)) value = static_cast<int64_t>(*whole);
  }
  if (!value) return problem("an integer", text);
  if (key.type == KeyType::Int && (*value < std::numeric_limits<int>::min() ||
                                   *value > std::numeric_limits<int>::max())) {
    return problem("an integer in [" + std::to_string(std::numeric_limits<int>::min()) + ", " +
                       std::to_string(std::numeric_limits<int>::max()) + "]",
                   text);
  }
  return {KeyValue(*value), ""};
}

ParsedValue parse_unsigned(std::string_view text) {
  std::optional<uint64_t> value;
  if (!text.starts_with('-')) value = parse_exactly<uint64_t>(text);
  if (!value) {
    auto whole = integral_float(text);
    if (whole && *whole >= 0) value = static_cast<uint64_t>(*whole);
  }
  if (!value) return problem("a non-negative integer", text);
  return {KeyValue(*value), ""};
}

ParsedValue parse_float(std::string_view text) {
  // Parsed as a float directly, so the stored value is the correctly rounded one.
  auto value = parse_exactly<float>(text);
  if (!value) return problem("a number", text);
  return {KeyValue(static_cast<double>(*value)), ""};
}

ParsedValue parse_bool(std::string_view text) {
  // YAML 1.2 core schema spellings only: "yes", "on", "1" are YAML 1.1 and ambiguous.
  if (text == "true" || text == "True" || text == "TRUE") return {KeyValue(true), ""};
  if (text == "false" || text == "False" || text == "FALSE") return {KeyValue(false), ""};
  return problem("true or false", text);
}

ParsedValue parse_enum(const ConfigKey& key, std::string_view text) {
  if (std::find(key.choices.begin(), key.choices.end(), text) != key.choices.end())
    return {KeyValue(std::string(text)), ""};
  return problem(key_expectation(key), text);
}

// Shortest text that reads back to the same float, always with a '.' so
// that every YAML reader (YAML 1.1 ones too) sees a float, not a string.
std::string format_float(float value) {
  std::array<char, 64> buffer{};
  auto [end, error] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  std::string text(buffer.data(), end);
  size_t exponent = text.find('e');
  std::string mantissa = text.substr(0, exponent);
  if (mantissa.find('.') == std::string::npos) mantissa += ".0";
  return exponent == std::string::npos ? mantissa : mantissa + text.substr(exponent);
}

std::string format_limit(double value) {
  if (std::trunc(value) == value) return std::to_string(static_cast<int64_t>(value));
  return format_float(static_cast<float>(value));
}

bool within(const Limit& limit, double value, bool is_min) {
  if (limit.inclusive) return is_min ? value >= limit.value : value <= limit.value;
  return is_min ? value > limit.value : value < limit.value;
}

double as_double(const KeyValue& value) {
  if (auto* i = std::get_if<int64_t>(&value)) return static_cast<double>(*i);
  if (auto* u = std::get_if<uint64_t>(&value)) return static_cast<double>(*u);
  if (auto* d = std::get_if<double>(&value)) return *d;
  return 0;
}

}  // namespace

ParsedValue parse_key_value(const ConfigKey& key, std::string_view text) {
  switch (key.type) {
    case KeyType::Int:
    case KeyType::Int64: return parse_signed(key, text);
    case KeyType::UInt64: return parse_unsigned(text);
    case KeyType::Float: return parse_float(text);
    case KeyType::Bool: return parse_bool(text);
    case KeyType::Enum: return parse_enum(key, text);
    case KeyType::String: return {KeyValue(std::string(text)), ""};
  }
  return problem("a value", text);
}

bool key_value_in_range(const ConfigKey& key, const KeyValue& value) {
  if (auto* text = std::get_if<std::string>(&value)) return key.allow_empty || !text->empty();
  double number = as_double(value);
  if (key.range.min && !within(*key.range.min, number, true)) return false;
  if (key.range.max && !within(*key.range.max, number, false)) return false;
  return true;
}

std::string format_key_value(const ConfigKey& key, const KeyValue& value) {
  switch (key.type) {
    case KeyType::Int:
    case KeyType::Int64: return std::to_string(std::get<int64_t>(value));
    case KeyType::UInt64: return std::to_string(std::get<uint64_t>(value));
    case KeyType::Float: return format_float(static_cast<float>(std::get<double>(value)));
    case KeyType::Bool: return std::get<bool>(value) ? "true" : "false";
    case KeyType::String:
    case KeyType::Enum: return std::get<std::string>(value);
  }
  return "";
}

std::string key_expectation(const ConfigKey& key) {
  switch (key.type) {
    case KeyType::Int:
    case KeyType::Int64: return "an integer";
    case KeyType::UInt64: return "a non-negative integer";
    case KeyType::Float: return "a number";
    case KeyType::Bool: return "true or false";
    case KeyType::Enum: return or_list(key.choices);
    case KeyType::String: return "a string";
  }
  return "a value";
}

const char* key_type_name(KeyType type) {
  switch (type) {
    case KeyType::Int: return "int";
    case KeyType::Int64: return "int64";
    case KeyType::UInt64: return "uint64";
    case KeyType::Float: return "float";
    case KeyType::Bool: return "bool";
    case KeyType::String: return "string";
    case KeyType::Enum: return "enum";
  }
  return "?";
}

std::string key_range_text(const ConfigKey& key) {
  if (key.type == KeyType::Enum) {
    std::string text;
    for (const std::string& choice : key.choices) text += (text.empty() ? "" : ", ") + choice;
    return text;
  }
  if (key.type == KeyType::String) return key.allow_empty && !key.required ? "" : "non-empty";
  const auto& [lo, hi] = key.range;
  if (lo && hi) {
    return (lo->inclusive ? "[" : "(") + format_limit(lo->value) + ", " + format_limit(hi->value) +
           (hi->inclusive ? "]" : ")");
  }
  if (lo) return (lo->inclusive ? ">= " : "> ") + format_limit(lo->value);
  if (hi) return (hi->inclusive ? "<= " : "< ") + format_limit(hi->value);
  return "";
}

std::string key_default_text(const ConfigKey& key) {
  if (key.required) return "(required)";
  static const Config defaults{};
  return format_key_value(key, key.get(defaults));
}

}  // namespace alibi
