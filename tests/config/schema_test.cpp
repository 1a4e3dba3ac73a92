// The key table itself: it covers every field of Config, its defaults are
// valid, and values print and parse back exactly.
#include "config/schema.h"

#include <gtest/gtest.h>

#include <set>

namespace alibi {
namespace {

// Counts an aggregate's fields: the most initializers `T{...}` accepts.
// A struct field added without a schema key makes the coverage test fail.
struct AnyField {
  template <class T>
  operator T() const;
};

template <class T, class... Fields>
constexpr size_t field_count() {
  if constexpr (requires { T{Fields{}..., AnyField{}}; }) {
    return field_count<T, Fields..., AnyField>();
  } else {
    return sizeof...(Fields);
  }
}

size_t keys_in_section(std::string_view section) {
  size_t count = 0;
  for (const ConfigKey& key : config_keys()) count += key.section() == section;
  return count;
}

TEST(ConfigSchema, EveryStructFieldHasAKey) {
  EXPECT_EQ(field_count<Config>(), config_sections().size());
  EXPECT_EQ(field_count<ModelConfig>(), keys_in_section("model"));
  EXPECT_EQ(field_count<DataConfig>(), keys_in_section("data"));
  EXPECT_EQ(field_count<TrainConfig>(), keys_in_section("train"));
  EXPECT_EQ(field_count<CheckpointConfig>(), keys_in_section("checkpoint"));
  EXPECT_EQ(field_count<LogConfig>(), keys_in_section("log"));
  EXPECT_EQ(field_count<RuntimeConfig>(), keys_in_section("runtime"));
}

TEST(ConfigSchema, NamesAreUniqueAndSectioned) {
  std::set<std::string> names;
  for (const ConfigKey& key : config_keys()) {
    SCOPED_TRACE(key.name);
    EXPECT_TRUE(names.insert(key.name).second);
    EXPECT_TRUE(is_config_section(key.section()));
    EXPECT_FALSE(key.field().empty());
    EXPECT_FALSE(key.doc.empty());
    EXPECT_EQ(key.doc.find('\n'), std::string::npos);
    EXPECT_EQ(find_config_key(key.name), &key);
  }
}

// A value of the key's type that differs from `value`.
KeyValue another_value(const ConfigKey& key, const KeyValue& value) {
  switch (key.type) {
    case KeyType::Int:
    case KeyType::Int64: return std::get<int64_t>(value) + 3;
    case KeyType::UInt64: return std::get<uint64_t>(value) + 3;
    case KeyType::Float: return double(static_cast<float>(std::get<double>(value) + 0.25));
    case KeyType::Bool: return !std::get<bool>(value);
    case KeyType::String: return std::get<std::string>(value) + "_changed";
    case KeyType::Enum:
      return key.choices.front() == std::get<std::string>(value) ? key.choices.back()
                                                                  : key.choices.front();
  }
  return value;
}

// Each key writes its own field: setting it changes that key's value and the
// resolved YAML, and no other key's value.
TEST(ConfigSchema, EachKeyBindsItsOwnField) {
  const Config defaults;
  for (const ConfigKey& key : config_keys()) {
    SCOPED_TRACE(key.name);
    Config changed;
    KeyValue value = another_value(key, key.get(defaults));
    key.set(changed, value);
    EXPECT_EQ(key.get(changed), value);
    EXPECT_NE(config_to_yaml(changed), config_to_yaml(defaults));
    for (const ConfigKey& other : config_keys()) {
      if (&other == &key) continue;
      EXPECT_EQ(other.get(changed), other.get(defaults)) << other.name;
    }
  }
}

TEST(ConfigSchema, DefaultsAreValid) {
  Config defaults;
  for (const ConfigKey& key : config_keys()) {
    SCOPED_TRACE(key.name);
    if (key.required) continue;
    EXPECT_TRUE(key_value_in_range(key, key.get(defaults)));
    ParsedValue reparsed = parse_key_value(key, key_default_text(key));
    ASSERT_TRUE(reparsed.value) << reparsed.problem;
    EXPECT_EQ(*reparsed.value, key.get(defaults));
  }
  defaults.data.dir = "data/test";
  for (const CrossKeyRule& rule : config_cross_key_rules()) EXPECT_EQ(rule.violation(defaults), "");
}

TEST(ConfigSchema, DataDirIsTheRequiredKey) {
  std::vector<std::string> required;
  for (const ConfigKey& key : config_keys()) {
    if (key.required) required.push_back(key.name);
  }
  EXPECT_EQ(required, std::vector<std::string>{"data.dir"});
  EXPECT_EQ(key_default_text(*find_config_key("data.dir")), "(required)");
}

TEST(ConfigSchema, RangesReadAsIntervals) {
  EXPECT_EQ(key_range_text(*find_config_key("model.dropout")), "[0, 1)");
  EXPECT_EQ(key_range_text(*find_config_key("train.min_lr_ratio")), "[0, 1]");
  EXPECT_EQ(key_range_text(*find_config_key("train.lr")), "> 0");
  EXPECT_EQ(key_range_text(*find_config_key("model.n_layer")), ">= 1");
  EXPECT_EQ(key_range_text(*find_config_key("train.seed")), "");
  EXPECT_EQ(key_range_text(*find_config_key("model.position")),
            "alibi, sinusoidal, learned, rotary, none");
}

TEST(ConfigSchema, FloatsPrintShortestAndReadBackExactly) {
  const ConfigKey& lr = *find_config_key("train.lr");
  EXPECT_EQ(format_key_value(lr, KeyValue(double(1e-3f))), "0.001");
  EXPECT_EQ(format_key_value(lr, KeyValue(double(1e-8f))), "1.0e-08");
  EXPECT_EQ(format_key_value(lr, KeyValue(double(10000.0f))), "10000.0");
  for (float value : {1e-3f, 3e-4f, 0.1f, 0.95f, 1e-8f, 1e-5f, 0.0123456f, 12345.678f}) {
    std::string text = format_key_value(lr, KeyValue(double(value)));
    ParsedValue parsed = parse_key_value(lr, text);
    ASSERT_TRUE(parsed.value) << text;
    EXPECT_EQ(static_cast<float>(std::get<double>(*parsed.value)), value) << text;
  }
}

TEST(ConfigSchema, IntegersAreStrict) {
  const ConfigKey& steps = *find_config_key("train.steps");
  EXPECT_EQ(parse_key_value(steps, "1e5").value, KeyValue(int64_t{100000}));
  EXPECT_EQ(parse_key_value(steps, "+7").value, KeyValue(int64_t{7}));
  EXPECT_EQ(parse_key_value(steps, "9223372036854775807").value,
            KeyValue(int64_t{9223372036854775807}));
  EXPECT_FALSE(parse_key_value(steps, "1.5").value);
  EXPECT_FALSE(parse_key_value(steps, "0x10").value);
  EXPECT_FALSE(parse_key_value(steps, "").value);
  EXPECT_FALSE(parse_key_value(steps, "1e30").value);
  EXPECT_FALSE(parse_key_value(*find_config_key("train.lr"), "nan").value);
  EXPECT_FALSE(parse_key_value(*find_config_key("train.lr"), "inf").value);
}

TEST(ConfigSchema, NearestNames) {
  EXPECT_EQ(nearest_config_name("train.lrr"), "train.lr");
  EXPECT_EQ(nearest_config_name("model.nlayer"), "model.n_layer");
  EXPECT_EQ(nearest_config_name("model.seq_len"), "train.seq_len");
  EXPECT_EQ(nearest_config_name("lr"), "train.lr");
  EXPECT_EQ(nearest_config_name("runtim"), "runtime");
  EXPECT_EQ(nearest_config_name("train.completely_unrelated"), "");
}

TEST(ConfigSchema, EnumNamesRoundTrip) {
  for (auto method : {PositionMethod::Alibi, PositionMethod::Sinusoidal, PositionMethod::Learned,
                      PositionMethod::Rotary, PositionMethod::None}) {
    EXPECT_EQ(parse_position_method(position_method_name(method)), method);
  }
  for (auto device : {DeviceChoice::Auto, DeviceChoice::Cpu, DeviceChoice::Cuda}) {
    EXPECT_EQ(parse_device_choice(device_choice_name(device)), device);
  }
  EXPECT_STREQ(position_method_name(PositionMethod::Alibi), "alibi");
  EXPECT_FALSE(parse_position_method("ALiBi"));
  EXPECT_FALSE(parse_device_choice("gpu"));
}

}  // namespace
}  // namespace alibi
