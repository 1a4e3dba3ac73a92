// Crafted checkpoints: each is a valid file (magic, version, checksum, end
// marker) except for one header field, so that the check under test is the
// one that fires. Every one must be refused with a message naming the file
// and the field, never read out of bounds or crash.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>

#include "core/hash.h"
#include "eval/eval_checkpoint.h"
#include "support/temp_dir.h"
#include "train/checkpoint.h"

namespace alibi {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr size_t kPrefix = 24, kTrailer = 16, kAlign = 64;

ModelShape small_shape() {
  ModelShape s;
  s.position = PositionMethod::Alibi;
  s.n_layer = 1, s.d_model = 8, s.n_head = 2, s.d_ff = 32, s.vocab = 10;
  return s;
}

TrainingState small_state() {
  TrainingState st;
  st.step = 7;
  st.rng_state = 12345;
  st.config_yaml = "data:\n  dir: /nonexistent\n";
  st.tokenizer_id = "0123456789abcdef";
  st.data_vocab = 10;
  return st;
}

// A valid checkpoint's parts: the header and the tensor data after it.
struct Parts {
  Json header;
  std::string data;
};

Parts valid_parts(const alibi::testing::TempDir& dir) {
  std::vector<float> wte(80, 0.25f), bias(8, 1.f);
  const std::string path = dir.file("valid.ckpt");
  save_checkpoint(path, small_state(), small_shape(),
                  {{"param/wte", DType::F32, {10, 8}, wte.data()}, {"param/b", DType::F32, {8}, bias.data()}});
  std::ifstream in(path, std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), {});
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, file.data() + 16, 8);
  const size_t data_start = (kPrefix + header_bytes + kAlign - 1) / kAlign * kAlign;
  return {Json::parse(file.substr(kPrefix, header_bytes)),
          file.substr(data_start, file.size() - kTrailer - data_start)};
}

// Frames a header and data exactly as save_checkpoint does, with a correct
// checksum; `header_length` overrides the stored header length.
std::string write_framed(const alibi::testing::TempDir& dir, const std::string& header_text, const std::string& data,
                         std::optional<uint64_t> header_length = std::nullopt) {
  std::string file = "ALIBICKP";
  const uint32_t version = kCheckpointVersion, reserved = 0;
  const uint64_t length = header_length.value_or(header_text.size());
  file.append(reinterpret_cast<const char*>(&version), 4);
  file.append(reinterpret_cast<const char*>(&reserved), 4);
  file.append(reinterpret_cast<const char*>(&length), 8);
  file += header_text;
  file.append((kAlign - file.size() % kAlign) % kAlign, '\0');
  file += data;
  const uint64_t checksum = fnv1a64(file.data(), file.size());
  file.append(reinterpret_cast<const char*>(&checksum), 8);
  file += "ALIBIEND";
  const std::string path = dir.file("crafted.ckpt");
  std::ofstream(path, std::ios::binary) << file;
  return path;
}

std::string crafted(const alibi::testing::TempDir& dir, const std::function<void(Json&)>& edit) {
  Parts parts = valid_parts(dir);
  edit(parts.header);
  return write_framed(dir, parts.header.dump(1), parts.data);
}

void expect_refused(const std::string& path, std::initializer_list<std::string> words) {
  try {
    load_checkpoint(path);
    FAIL() << "expected " << path << " to be refused (" << *words.begin() << ")";
  } catch (const CheckpointError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    for (const std::string& w : words) EXPECT_NE(message.find(w), std::string::npos) << "no '" << w << "' in: " << message;
  }
}

TEST(CheckpointHostile, TheCraftingHelperWritesALoadableFile) {
  alibi::testing::TempDir dir("ckpt-hostile");
  const Checkpoint c = load_checkpoint(crafted(dir, [](Json&) {}));
  EXPECT_EQ(c.state.step, 7);
  EXPECT_EQ(c.tensor("param/wte").f32()[79], 0.25f);
}

TEST(CheckpointHostile, AnOffsetThatWrapsAroundIsRefused) {
  alibi::testing::TempDir dir("ckpt-hostile");
  // data_start + offset wraps to exactly 0: the header bytes would load as weights.
  const Parts parts = valid_parts(dir);
  auto data_start_of = [](const std::string& text) { return (kPrefix + text.size() + kAlign - 1) / kAlign * kAlign; };
  Json header = parts.header;
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  header["tensors"][0]["offset"] = max;  // as many digits as the wrapping value below
  const uint64_t start = data_start_of(header.dump(1));
  header["tensors"][0]["offset"] = max - start + 1;
  const std::string text = header.dump(1);
  ASSERT_EQ(data_start_of(text), start);
  expect_refused(write_framed(dir, text, parts.data), {"tensors[0]", "param/wte", "offset"});
  // And an offset whose end (offset + nbytes) wraps past the top.
  expect_refused(crafted(dir, [](Json& h) { h["tensors"][1]["offset"] = std::numeric_limits<uint64_t>::max() - 8; }),
                 {"tensors[1]", "offset"});
  expect_refused(crafted(dir, [](Json& h) { h["tensors"][1]["offset"] = 1 << 20; }), {"tensors[1]", "outside"});
}

TEST(CheckpointHostile, ShapesBeyond64BitsAndNegativeSizesAreRefused) {
  alibi::testing::TempDir dir("ckpt-hostile");
  expect_refused(crafted(dir, [](Json& h) { h["tensors"][0]["shape"] = {int64_t{1} << 32, int64_t{1} << 32}; }),
                 {"tensors[0]", "shape", "64 bits"});
  expect_refused(crafted(dir, [](Json& h) { h["tensors"][0]["shape"] = {-10, -8}; }), {"tensors[0]", "shape"});
  expect_refused(crafted(dir, [](Json& h) { h["tensors"][0]["nbytes"] = 4; }), {"tensors[0]", "nbytes"});
  expect_refused(crafted(dir, [](Json& h) { h["tensors"][0]["offset"] = -64; }), {"tensors[0]", "offset"});
  expect_refused(crafted(dir, [](Json& h) { h["tensors"][0]["dtype"] = "f64"; }), {"tensors[0]", "dtype", "f64"});
  expect_refused(crafted(dir, [](Json& h) { h["tensors"][1]["name"] = "param/wte"; }), {"given twice"});
}

TEST(CheckpointHostile, ModelHeaderIsCheckedAgainstTheConfigSchema) {
  alibi::testing::TempDir dir("ckpt-hostile");
  auto with_model = [&](const char* field, Json value) {
    return crafted(dir, [&](Json& h) { h["model"][field] = value; });
  };
  expect_refused(with_model("n_head", 0), {"model.n_head", "0"});
  expect_refused(with_model("n_layer", -3), {"model.n_layer", "-3"});
  expect_refused(with_model("d_model", 3.9e19), {"model.d_model", "3.9e+19"});
  expect_refused(with_model("d_model", 9), {"divisible", "9"});
  expect_refused(with_model("vocab", 0), {"model.vocab"});
  expect_refused(with_model("d_ff", 0), {"model.d_ff"});
  expect_refused(with_model("dropout", 1.5), {"model.dropout", "1.5"});
  expect_refused(with_model("layernorm_eps", -1.0), {"model.layernorm_eps"});
  expect_refused(with_model("position", "absolute"), {"model.position", "absolute"});
  expect_refused(with_model("n_layer", "many"), {"model.n_layer", "many"});
  expect_refused(with_model("n_head", Json::array()), {"model.n_head"});
  expect_refused(crafted(dir, [](Json& h) { h["model"].erase("d_model"); }), {"model.d_model", "missing"});
  expect_refused(crafted(dir, [](Json& h) {
                   h["model"]["position"] = "learned";
                   h["model"]["max_position"] = 0;
                 }),
                 {"model.max_position"});
}

TEST(CheckpointHostile, TrainingStateFieldsAreTypedAndNamed) {
  alibi::testing::TempDir dir("ckpt-hostile");
  expect_refused(crafted(dir, [](Json& h) { h["rng_state"] = "abc"; }), {"rng_state", "abc"});
  expect_refused(crafted(dir, [](Json& h) { h["rng_state"] = "99999999999999999999999"; }), {"rng_state"});
  expect_refused(crafted(dir, [](Json& h) { h["rng_state"] = 5; }), {"rng_state"});
  expect_refused(crafted(dir, [](Json& h) { h["step"] = 1.5; }), {"step", "integer"});
  expect_refused(crafted(dir, [](Json& h) { h["step"] = -1; }), {"step", "-1"});
  expect_refused(crafted(dir, [](Json& h) { h["tokens_seen"] = 1e300; }), {"tokens_seen"});
  expect_refused(crafted(dir, [](Json& h) { h.erase("loader_position"); }), {"loader_position", "missing"});
  expect_refused(crafted(dir, [](Json& h) { h["tokenizer_id"] = 12; }), {"tokenizer_id", "string"});
  expect_refused(crafted(dir, [](Json& h) { h["data_bytes"] = 1; }), {"data_bytes"});
  expect_refused(crafted(dir, [](Json& h) { h["data_bytes"] = std::numeric_limits<uint64_t>::max(); }), {"data_bytes"});
  expect_refused(crafted(dir, [](Json& h) { h["tensors"] = "none"; }), {"tensors"});
}

TEST(CheckpointHostile, AHeaderLengthBeyondTheFileIsRefusedWithoutWrapping) {
  alibi::testing::TempDir dir("ckpt-hostile");
  const Parts parts = valid_parts(dir);
  const std::string text = parts.header.dump(1);
  // 24 + length wraps to a small number unless checked.
  expect_refused(write_framed(dir, text, parts.data, std::numeric_limits<uint64_t>::max() - 10), {"header length"});
  expect_refused(write_framed(dir, text, parts.data, uint64_t{1} << 40), {"header length"});
}

TEST(CheckpointHostile, LatestIsConfinedToItsFolder) {
  alibi::testing::TempDir dir("ckpt-hostile");
  const fs::path folder = fs::path(dir.path()) / "run" / "checkpoints";
  fs::create_directories(folder);
  std::ofstream(fs::path(dir.path()) / "x.ckpt") << "outside";
  for (const char* pointer : {"../../x.ckpt", "/etc/passwd", "..", "sub/step_00000001.ckpt"}) {
    std::ofstream(folder / "latest") << pointer << "\n";
    try {
      latest_checkpoint(folder.string());
      FAIL() << "followed " << pointer;
    } catch (const CheckpointError& e) {
      EXPECT_NE(std::string(e.what()).find((folder / "latest").string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(pointer), std::string::npos) << e.what();
    }
  }
  // A plain name of a file that is gone still falls back to the newest one present.
  std::ofstream(folder / "latest") << "step_00000009.ckpt\n";
  std::ofstream(folder / "step_00000003.ckpt") << "x";
  EXPECT_EQ(latest_checkpoint(folder.string()), (folder / "step_00000003.ckpt").string());
}

TEST(CheckpointHostile, EvaluationRefusesAHeaderTheTensorsDoNotBackUp) {
  alibi::testing::TempDir dir("ckpt-hostile");
  // A valid header (n_layer within the schema's range) claiming a million
  // layers that the file does not hold: refused before a layout is built.
  const std::string path = crafted(dir, [](Json& h) { h["model"]["n_layer"] = 1000000; });
  try {
    load_eval_checkpoint(path);
    FAIL() << "expected a refusal";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("n_layer = 1000000"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  const std::string wide = crafted(dir, [](Json& h) { h["model"]["vocab"] = 2147483647; });
  EXPECT_THROW(load_eval_checkpoint(wide), CheckpointError);
}

}  // namespace
}  // namespace alibi
