// Configs as an adversary (or a slip of the keyboard) writes them: each must
// end in a ConfigError naming the file, never a crash or a run that cannot end.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "config/config_test_util.h"

namespace alibi {
namespace {

using testing::config_error_of;
using testing::config_error_of_yaml;
using testing::kMinimalYaml;

std::string json_error(const std::string& json) {
  return config_error_of([&] { parse_config(json, "configs/x.json"); });
}

std::string nested_json(int depth) {
  return R"({"data": {"dir": "d"}, "model": )" + std::string(depth, '[') + std::string(depth, ']') + "}";
}

TEST(ConfigHostile, DeeplyNestedJsonIsAnErrorNotACrash) {
  EXPECT_EQ(json_error(nested_json(20000)), "configs/x.json: JSON nested deeper than 64 levels");
  std::string objects = R"({"data": {"dir": "d"}, "model": )";
  for (int i = 0; i < 100; ++i) objects += R"({"a": )";
  objects += "1" + std::string(100, '}') + "}";
  EXPECT_EQ(json_error(objects), "configs/x.json: JSON nested deeper than 64 levels");
  // Within the bound, the nesting reaches the usual type error.
  EXPECT_EQ(json_error(nested_json(10)), "configs/x.json: section 'model' must be a mapping of keys, got a list");
}

TEST(ConfigHostile, DeeplyNestedYamlIsAnErrorNotACrash) {
  const std::string message =
      config_error_of_yaml(kMinimalYaml + "model: " + std::string(20000, '[') + std::string(20000, ']') + "\n");
  EXPECT_EQ(message.rfind("configs/x.yaml: YAML syntax error", 0), 0u) << message;
}

TEST(ConfigHostile, DuplicateJsonKeysAreRefusedLikeYamls) {
  EXPECT_EQ(json_error(R"({"data": {"dir": "d"}, "train": {"lr": 0.1, "lr": 0.2}})"),
            "configs/x.json: key 'train.lr' is given twice");
  EXPECT_EQ(json_error(R"({"data": {"dir": "d"}, "train": {}, "train": {}})"),
            "configs/x.json: key 'train' is given twice");
  // The same key in different objects is no duplicate.
  EXPECT_NO_THROW(parse_config(R"({"data": {"dir": "d"}, "train": {"seed": 1}, "model": {"n_layer": 1}})", "x.json"));
}

TEST(ConfigHostile, JsonNumberOverflowNamesTheFile) {
  const std::string message = json_error(R"({"data": {"dir": "d"}, "train": {"lr": 1e400}})");
  EXPECT_EQ(message.rfind("configs/x.json: ", 0), 0u) << message;
  EXPECT_NE(message.find("1e400"), std::string::npos) << message;
}

TEST(ConfigHostile, AbsurdBatchShapesAndThreadCountsAreRefused) {
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml, {"train.global_batch=2147483647", "train.micro_batch=1"}),
            "configs/x.yaml with --set: train.global_batch / train.micro_batch = 2147483647 / 1 = 2147483647 "
            "micro-batches per step is more than 65536; raise train.micro_batch");
  EXPECT_NO_THROW(parse_config(kMinimalYaml, "x.yaml", {"train.global_batch=65536", "train.micro_batch=1"}));
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml, {"train.grad_accum=1000000"}),
            "--set train.grad_accum=1000000: train.grad_accum is out of range [1, 65536]");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "runtime:\n  threads: 1000000\n"),
            "configs/x.yaml: runtime.threads = 1000000 is out of range [0, 4096]");
}

}  // namespace
}  // namespace alibi
