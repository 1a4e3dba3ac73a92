// Loading configs: defaults, overrides, YAML/JSON, and every promised error message.
#include "config/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "config/config_test_util.h"
#include "config/schema.h"

namespace alibi {
namespace {

using testing::config_error_of;
using testing::config_error_of_yaml;
using testing::kMinimalYaml;

Config parse_yaml(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  return parse_config(yaml, "configs/x.yaml", overrides);
}

TEST(ConfigLoad, OmittedKeysTakeTheStructDefaults) {
  Config loaded = parse_yaml(kMinimalYaml);
  Config expected;
  expected.data.dir = "data/test";
  EXPECT_EQ(config_to_yaml(loaded), config_to_yaml(expected));
  EXPECT_EQ(loaded.model.position, PositionMethod::Alibi);
  EXPECT_EQ(loaded.train.steps, 200);
  EXPECT_FLOAT_EQ(loaded.train.lr, 1e-3f);
}

TEST(ConfigLoad, ReadsEveryValueType) {
  Config c = parse_yaml(kMinimalYaml + R"(
model:
  position: rotary
  n_layer: 6
  dropout: 0.25
train:
  steps: 1e5
  seed: 18446744073709551615
  decay_embeddings: true
  lr: 3e-4
checkpoint:
  dir:
runtime:
  device: cuda
)");
  EXPECT_EQ(c.model.position, PositionMethod::Rotary);
  EXPECT_EQ(c.model.n_layer, 6);
  EXPECT_FLOAT_EQ(c.model.dropout, 0.25f);
  EXPECT_EQ(c.train.steps, 100000);  // integral float notation is an integer
  EXPECT_EQ(c.train.seed, 18446744073709551615ULL);
  EXPECT_TRUE(c.train.decay_embeddings);
  EXPECT_EQ(c.train.lr, 3e-4f);
  EXPECT_EQ(c.checkpoint.dir, "");
  EXPECT_EQ(c.runtime.device, DeviceChoice::Cuda);
}

TEST(ConfigLoad, OverridesApplyAfterTheFileInOrder) {
  Config c = parse_yaml(kMinimalYaml + "train:\n  lr: 0.5\n",
                        {"train.lr=0.25", "model.position=learned", "train.lr=0.125",
                         "data.dir=elsewhere"});
  EXPECT_EQ(c.train.lr, 0.125f);
  EXPECT_EQ(c.model.position, PositionMethod::Learned);
  EXPECT_EQ(c.data.dir, "elsewhere");
}

TEST(ConfigLoad, RequiredKeyMayComeFromAnOverride) {
  Config c = parse_yaml("train:\n  steps: 10\n", {"data.dir=data/x"});
  EXPECT_EQ(c.data.dir, "data/x");
}

TEST(ConfigLoad, YamlAndJsonWithTheSameKeysAreEqual) {
  const std::string yaml = R"(
data: {dir: data/test}
model:
  position: sinusoidal
  d_model: 64
  dropout: 0.1
train:
  lr: 2.5e-4
  steps: 1000
  decay_norms_and_biases: true
  seed: 7
log:
  run_dir: "runs/a b"
)";
  const std::string json = R"({
  "data": {"dir": "data/test"},
  "model": {"position": "sinusoidal", "d_model": 64, "dropout": 0.1},
  "train": {"lr": 2.5e-4, "steps": 1000, "decay_norms_and_biases": true, "seed": 7},
  "log": {"run_dir": "runs/a b"}
})";
  EXPECT_EQ(config_to_yaml(parse_config(yaml, "x.yaml")),
            config_to_yaml(parse_config(json, "x.json")));
}

TEST(ConfigLoad, ShippedTinyCpuYamlAndJsonAreTheSameConfig) {
  const std::string dir = std::string(ALIBI_SOURCE_DIR) + "/configs/";
  EXPECT_EQ(config_to_yaml(load_config(dir + "tiny-cpu.yaml")),
            config_to_yaml(load_config(dir + "tiny-cpu.json")));
}

TEST(ConfigLoad, EveryShippedConfigLoads) {
  int loaded = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(ALIBI_SOURCE_DIR) + "/configs")) {
    std::string extension = entry.path().extension().string();
    if (extension != ".yaml" && extension != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    EXPECT_NO_THROW(load_config(entry.path().string()));
    ++loaded;
  }
  EXPECT_GE(loaded, 4);
}

TEST(ConfigLoad, TinyCpuIsTheDocumentedSmallModel) {
  Config c = load_config(std::string(ALIBI_SOURCE_DIR) + "/configs/tiny-cpu.yaml");
  EXPECT_EQ(c.data.dir, "data/brown");
  EXPECT_EQ(c.model.position, PositionMethod::Alibi);
  EXPECT_EQ(c.model.n_layer, 4);
  EXPECT_EQ(c.model.d_model, 128);
  EXPECT_EQ(c.train.seq_len, 128);
  EXPECT_EQ(c.train.steps, 300);
  EXPECT_EQ(c.runtime.device, DeviceChoice::Cpu);
  EXPECT_EQ(c.log.run_dir, "runs/tiny-cpu");
}

// ---------------------------------------------------------------------------
// Round trips through config_to_yaml.
// ---------------------------------------------------------------------------

// A valid config in which many keys differ from their defaults, including
// strings that YAML would misread unquoted.
Config unusual_config() {
  return parse_config("", "unusual.yaml",
                      {"data.dir=\"dir: with #colon and 'quotes' \\\"double\\\"\"",
                       "data.train_split=\"null\"", "data.valid_split=\"123\"",
                       "model.position=rotary", "model.n_layer=3", "model.d_model=96",
                       "model.n_head=6", "model.d_ff=200", "model.vocab_size=300",
                       "model.max_position=77", "model.dropout=0.1", "model.init_std=0.0123456",
                       "model.layernorm_eps=1e-6", "model.rotary_base=500000",
                       "train.seq_len=64", "train.micro_batch=3", "train.grad_accum=5",
                       "train.steps=123456789012", "train.lr=3e-4", "train.min_lr_ratio=0",
                       "train.warmup_steps=7", "train.weight_decay=0.05",
                       "train.decay_embeddings=true", "train.decay_norms_and_biases=true",
                       "train.beta1=0.8", "train.beta2=0.999", "train.eps=1e-10",
                       "train.grad_clip=0", "train.seed=18446744073709551615",
                       "train.eval_interval=0", "train.eval_batches=0", "checkpoint.dir=\"\"",
                       "checkpoint.interval=9", "checkpoint.keep=1", "log.run_dir=runs/ü",
                       "log.interval=3", "runtime.device=cpu", "runtime.threads=2"});
}

TEST(ConfigRoundTrip, ResolvedYamlReadsBackToTheSameConfig) {
  Config original = unusual_config();
  std::string yaml = config_to_yaml(original);
  Config reread = parse_config(yaml, "resolved.yaml");
  EXPECT_EQ(config_to_yaml(reread), yaml);
  EXPECT_EQ(reread.data.dir, original.data.dir);
  EXPECT_EQ(reread.data.train_split, "null");
  EXPECT_EQ(reread.train.lr, original.train.lr);
  EXPECT_EQ(reread.model.init_std, original.model.init_std);
  EXPECT_EQ(reread.train.seed, original.train.seed);
}

TEST(ConfigRoundTrip, ResolvedYamlOfDefaultsReadsBack) {
  Config original;
  original.data.dir = "data/test";
  std::string yaml = config_to_yaml(original);
  EXPECT_EQ(config_to_yaml(parse_config(yaml, "resolved.yaml")), yaml);
}

TEST(ConfigRoundTrip, JsonOfTheSameKeysReadsToTheSameConfig) {
  // The resolved config rewritten as JSON: names and strings as JSON strings,
  // numbers and booleans in the same spelling as the YAML.
  Config original = unusual_config();
  nlohmann::json document = nlohmann::json::object();
  for (const ConfigKey& key : config_keys()) {
    std::string text = format_key_value(key, key.get(original));
    bool is_text = key.type == KeyType::String || key.type == KeyType::Enum;
    document[std::string(key.section())][std::string(key.field())] =
        is_text ? nlohmann::json(text) : nlohmann::json::parse(text);
  }
  std::string json = document.dump(2);
  EXPECT_EQ(config_to_yaml(parse_config(json, "resolved.json")), config_to_yaml(original));
}

// ---------------------------------------------------------------------------
// Error messages.
// ---------------------------------------------------------------------------

TEST(ConfigErrors, MissingFile) {
  EXPECT_EQ(config_error_of([] { load_config("x.yaml"); }), "config file 'x.yaml' not found");
}

TEST(ConfigErrors, YamlSyntaxErrorGivesTheLine) {
  std::string message = config_error_of_yaml("data:\n  dir: data\ntrain:\n  lr: [1, 2\n");
  EXPECT_NE(message.find("configs/x.yaml: YAML syntax error at line "), std::string::npos)
      << message;
}

TEST(ConfigErrors, JsonSyntaxErrorGivesTheLine) {
  std::string message = config_error_of(
      [] { parse_config("{\n  \"data\": {\"dir\": \"d\",}\n}", "configs/x.json"); });
  EXPECT_NE(message.find("configs/x.json: JSON syntax error: parse error at line 2"),
            std::string::npos)
      << message;
}

TEST(ConfigErrors, JsonErrorsReadLikeYamlErrors) {
  auto json_error = [](const std::string& json) {
    return config_error_of([&] { parse_config(json, "configs/x.json"); });
  };
  EXPECT_EQ(json_error(R"({"data": {"dir": "d"}, "train": {"micro_batch": "eight"}})"),
            "configs/x.json: train.micro_batch: expected an integer, got 'eight'");
  EXPECT_EQ(json_error(R"({"data": {"dir": "d"}, "train": {"lrr": 0.1}})"),
            "configs/x.json: unknown key 'train.lrr'; did you mean 'train.lr'?");
  EXPECT_EQ(json_error(R"({"data": {"dir": "d"}, "model": {"dropout": 1.5}})"),
            "configs/x.json: model.dropout = 1.5 is out of range [0, 1)");
  EXPECT_EQ(json_error(R"({"train": {"lr": null}, "data": {"dir": "d"}})"),
            "configs/x.json: train.lr: expected a number, got an empty value");
}

TEST(ConfigErrors, DirectoryIsNotAConfigFile) {
  EXPECT_EQ(config_error_of([] { load_config(ALIBI_SOURCE_DIR "/configs"); }),
            "config file '" ALIBI_SOURCE_DIR "/configs' is a directory, not a file");
}

TEST(ConfigErrors, UnknownKeySuggestsTheNearest) {
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "train:\n  lrr: 0.1\n"),
            "configs/x.yaml: unknown key 'train.lrr'; did you mean 'train.lr'?");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "train:\n  warmup: 10\n"),
            "configs/x.yaml: unknown key 'train.warmup'; did you mean 'train.warmup_steps'?");
}

TEST(ConfigErrors, KeyInTheWrongSectionSuggestsItsSection) {
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "model:\n  lr: 0.1\n"),
            "configs/x.yaml: unknown key 'model.lr'; did you mean 'train.lr'?");
}

TEST(ConfigErrors, UnknownKeyFarFromAnyListsTheSection) {
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "log:\n  verbosity: 3\n"),
            "configs/x.yaml: unknown key 'log.verbosity'; the keys of section 'log' are: "
            "run_dir, interval");
}

TEST(ConfigErrors, UnknownSection) {
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "trian:\n  lr: 0.1\n"),
            "configs/x.yaml: unknown section 'trian'; did you mean 'train'?");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "lr: 0.1\n"),
            "configs/x.yaml: unknown section 'lr'; did you mean 'train.lr'?");
}

TEST(ConfigErrors, BadType) {
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "train:\n  micro_batch: eight\n"),
            "configs/x.yaml: train.micro_batch: expected an integer, got 'eight'");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "train:\n  micro_batch: 1.5\n"),
            "configs/x.yaml: train.micro_batch: expected an integer, got '1.5'");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "train:\n  lr: fast\n"),
            "configs/x.yaml: train.lr: expected a number, got 'fast'");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "train:\n  decay_embeddings: yes\n"),
            "configs/x.yaml: train.decay_embeddings: expected true or false, got 'yes'");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "train:\n  seed: -1\n"),
            "configs/x.yaml: train.seed: expected a non-negative integer, got '-1'");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "model:\n  n_layer: 3000000000\n"),
            "configs/x.yaml: model.n_layer: expected an integer in [-2147483648, 2147483647], "
            "got '3000000000'");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "train:\n  lr:\n"),
            "configs/x.yaml: train.lr: expected a number, got an empty value");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "train:\n  steps: [1, 2]\n"),
            "configs/x.yaml: train.steps: expected an integer, got a list");
  EXPECT_EQ(config_error_of_yaml("data:\n  dir: {a: 1}\n"),
            "configs/x.yaml: data.dir: expected a string, got a mapping");
}

TEST(ConfigErrors, OutOfRange) {
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "model:\n  dropout: 1.5\n"),
            "configs/x.yaml: model.dropout = 1.5 is out of range [0, 1)");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "train:\n  lr: 0\n"),
            "configs/x.yaml: train.lr = 0 is out of range (must be > 0)");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "model:\n  n_layer: 0\n"),
            "configs/x.yaml: model.n_layer = 0 is out of range (must be >= 1)");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "train:\n  beta2: 1\n"),
            "configs/x.yaml: train.beta2 = 1 is out of range [0, 1)");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "train:\n  min_lr_ratio: 1.5\n"),
            "configs/x.yaml: train.min_lr_ratio = 1.5 is out of range [0, 1]");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "train:\n  warmup_steps: -1\n"),
            "configs/x.yaml: train.warmup_steps = -1 is out of range (must be >= 0)");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "train:\n  grad_clip: -0.5\n"),
            "configs/x.yaml: train.grad_clip = -0.5 is out of range (must be >= 0)");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "model:\n  vocab_size: -1\n"),
            "configs/x.yaml: model.vocab_size = -1 is out of range (must be >= 0)");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "model:\n  max_position: -2\n"),
            "configs/x.yaml: model.max_position = -2 is out of range (must be >= 0)");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "train:\n  seq_len: 0\n"),
            "configs/x.yaml: train.seq_len = 0 is out of range (must be >= 1)");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "log:\n  run_dir: \"\"\n"),
            "configs/x.yaml: log.run_dir must not be empty");
}

TEST(ConfigErrors, BadEnumNamesTheAllowedValues) {
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "model:\n  position: alibbi\n"),
            "configs/x.yaml: model.position: expected alibi, sinusoidal, learned, rotary or "
            "none, got 'alibbi'");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "runtime:\n  device: gpu\n"),
            "configs/x.yaml: runtime.device: expected auto, cpu or cuda, got 'gpu'");
}

TEST(ConfigErrors, MissingRequiredKey) {
  const std::string expected =
      "configs/x.yaml: missing required key 'data.dir' (set dir in the file's data section, or "
      "--set data.dir=<value>)";
  EXPECT_EQ(config_error_of_yaml("train:\n  lr: 0.01\n"), expected);
  EXPECT_EQ(config_error_of_yaml(""), expected);
  EXPECT_EQ(config_error_of_yaml("data:\n  dir: \"\"\n"), expected);
}

TEST(ConfigErrors, DuplicateKey) {
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "train:\n  lr: 0.1\n  lr: 0.2\n"),
            "configs/x.yaml: key 'train.lr' is given twice");
}

TEST(ConfigErrors, SectionsMustBeMappings) {
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "train: 5\n"),
            "configs/x.yaml: section 'train' must be a mapping of keys, got '5'");
  EXPECT_EQ(config_error_of_yaml("- a\n- b\n"),
            "configs/x.yaml: expected a mapping of sections, got a list");
}

TEST(ConfigErrors, CrossKeyChecks) {
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "model:\n  d_model: 100\n  n_head: 3\n"),
            "configs/x.yaml: model.d_model = 100 is not divisible by model.n_head = 3");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml +
                                 "model:\n  position: rotary\n  d_model: 130\n  n_head: 2\n"),
            "configs/x.yaml: model.position = rotary needs an even head dimension, but "
            "model.d_model / model.n_head = 130 / 2 = 65");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml +
                                 "model:\n  position: sinusoidal\n  d_model: 127\n  n_head: 1\n"),
            "configs/x.yaml: model.position = sinusoidal needs an even model.d_model, got 127");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml +
                                 "model:\n  position: learned\n  max_position: 64\n"
                                 "train:\n  seq_len: 128\n"),
            "configs/x.yaml: model.max_position = 64 is smaller than train.seq_len = 128; "
            "learned positions need a table row for every position");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "train:\n  global_batch: 64\n  grad_accum: 2\n"),
            "configs/x.yaml: train.global_batch = 64 derives the accumulation, so train.grad_accum must "
            "stay 1 (got 2)");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "train:\n  global_batch: 12\n  micro_batch: 8\n"),
            "configs/x.yaml: train.global_batch = 12 is not a multiple of train.micro_batch = 8");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml + "dist:\n  rendezvous: tpc://node1:29500\n"),
            "configs/x.yaml: dist.rendezvous = 'tpc://node1:29500' is none of auto, mpi, tcp://HOST:PORT, "
            "file:PATH");
}

TEST(ConfigErrors, CrossKeyChecksPassWhereAllowed) {
  // Odd head dims are fine without rotary; max_position 0 means seq_len; warmup may exceed steps.
  EXPECT_NO_THROW(parse_yaml(kMinimalYaml + "model:\n  d_model: 130\n  n_head: 2\n"));
  EXPECT_NO_THROW(parse_yaml(kMinimalYaml + "model:\n  position: learned\n"));
  EXPECT_NO_THROW(parse_yaml(kMinimalYaml + "model:\n  position: learned\n  max_position: 128\n"));
  EXPECT_NO_THROW(parse_yaml(kMinimalYaml + "train:\n  steps: 10\n  warmup_steps: 20\n"));
  EXPECT_NO_THROW(parse_yaml(kMinimalYaml + "train:\n  global_batch: 64\n  micro_batch: 8\n"));
  for (const char* r : {"auto", "mpi", "tcp://node1:29500", "file:/shared/rv"})
    EXPECT_NO_THROW(parse_yaml(kMinimalYaml + "dist:\n  rendezvous: " + r + "\n")) << r;
}

TEST(ConfigErrors, CrossKeyViolationByOverrideSaysSo) {
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml, {"model.n_head=3"}),
            "configs/x.yaml with --set: model.d_model = 128 is not divisible by model.n_head = 3");
}

TEST(ConfigErrors, BadOverride) {
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml, {"train.lr=abc"}),
            "--set train.lr=abc: expected a number, got 'abc'");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml, {"train.lrr=0.1"}),
            "--set train.lrr=0.1: unknown key 'train.lrr'; did you mean 'train.lr'?");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml, {"train.lr"}),
            "--set train.lr: expected section.key=value, e.g. --set train.lr=<value>");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml, {"train.lrr"}),
            "--set train.lrr: expected section.key=value, e.g. --set train.lr=<value>");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml, {"model.dropout=1.5"}),
            "--set model.dropout=1.5: model.dropout is out of range [0, 1)");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml, {"train.lr="}),
            "--set train.lr=: expected a number, got an empty value");
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml, {"model.position=gpt"}),
            "--set model.position=gpt: expected alibi, sinusoidal, learned, rotary or none, "
            "got 'gpt'");
}

TEST(ConfigErrors, OverrideErrorsComeInOrder) {
  // The first bad override is reported, even when a later one would fix the value.
  EXPECT_EQ(config_error_of_yaml(kMinimalYaml, {"train.steps=x", "train.steps=5"}),
            "--set train.steps=x: expected an integer, got 'x'");
}

}  // namespace
}  // namespace alibi
