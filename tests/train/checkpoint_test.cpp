#include "train/checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/temp_dir.h"

namespace alibi {
namespace {

namespace fs = std::filesystem;

ModelShape some_shape() {
  ModelShape s;
  s.position = PositionMethod::Rotary;
  s.n_layer = 3, s.d_model = 16, s.n_head = 4, s.d_ff = 64, s.vocab = 100;
  return s;
}

TrainingState some_state() {
  TrainingState st;
  st.step = 42, st.tokens_seen = 42 * 1024, st.loader_position = 336;
  st.rng_state = 0xfedcba9876543210ULL;  // above 2^53: must survive JSON
  st.config_yaml = "train:\n  lr: 0.001\n";
  st.tokenizer_id = "0123456789abcdef";
  st.data_vocab = 97;
  return st;
}

std::string save_example(const fs::path& path) {
  std::vector<float> w(35), b(5);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.5f * i - 3.f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = -1.f * i;
  save_checkpoint(path.string(), some_state(), some_shape(),
                  {{"param/w", DType::F32, {5, 7}, w.data()}, {"param/b", DType::F32, {5}, b.data()}});
  return path.string();
}

TEST(Checkpoint, RoundTripsStateModelAndTensorsExactly) {
  alibi::testing::TempDir dir("ckpt");
  const Checkpoint c = load_checkpoint(save_example(fs::path(dir.path()) / "a.ckpt"));
  EXPECT_EQ(c.state.step, 42);
  EXPECT_EQ(c.state.tokens_seen, 42 * 1024);
  EXPECT_EQ(c.state.loader_position, 336);
  EXPECT_EQ(c.state.rng_state, 0xfedcba9876543210ULL);
  EXPECT_EQ(c.state.config_yaml, some_state().config_yaml);
  EXPECT_EQ(c.state.tokenizer_id, "0123456789abcdef");
  EXPECT_EQ(c.model.position, PositionMethod::Rotary);
  EXPECT_EQ(c.model.n_layer, 3);
  EXPECT_EQ(c.model.vocab, 100);
  const LoadedTensor& w = c.tensor("param/w");
  EXPECT_EQ(w.shape, (std::vector<int64_t>{5, 7}));
  for (int i = 0; i < 35; ++i) EXPECT_EQ(w.f32()[i], 0.5f * i - 3.f);
  EXPECT_EQ(c.tensor("param/b").f32()[4], -4.f);
  EXPECT_THROW(c.tensor("param/missing"), CheckpointError);
}

void expect_refused(const std::string& path, const std::string& words) {
  try {
    load_checkpoint(path);
    FAIL() << "expected " << path << " to be refused";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, RefusesAFlippedByte) {
  alibi::testing::TempDir dir("ckpt");
  const std::string path = save_example(fs::path(dir.path()) / "a.ckpt");
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(-40, std::ios::end);  // inside the tensor data
  f.put('\x7f');
  f.close();
  expect_refused(path, "checksum mismatch");
}

TEST(Checkpoint, RefusesATruncatedFile) {
  alibi::testing::TempDir dir("ckpt");
  const std::string path = save_example(fs::path(dir.path()) / "a.ckpt");
  fs::resize_file(path, fs::file_size(path) - 100);
  expect_refused(path, "truncated");
}

TEST(Checkpoint, RefusesANewerFormatAndForeignFiles) {
  alibi::testing::TempDir dir("ckpt");
  const std::string path = save_example(fs::path(dir.path()) / "a.ckpt");
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8);
    const uint32_t future = kCheckpointVersion + 1;
    f.write(reinterpret_cast<const char*>(&future), 4);
  }
  expect_refused(path, "newer");
  std::ofstream((fs::path(dir.path()) / "junk.ckpt").string()) << "hello, not a checkpoint";
  expect_refused((fs::path(dir.path()) / "junk.ckpt").string(), "not an alibi-lm checkpoint");
  expect_refused((fs::path(dir.path()) / "absent.ckpt").string(), "cannot open");
}

TEST(Checkpoint, FolderKeepsTheNewestAndPointsLatestAtIt) {
  alibi::testing::TempDir dir("ckpt");
  std::vector<float> w(4, 1.f);
  TrainingState st = some_state();
  for (int64_t step : {10, 20, 30}) {
    st.step = step;
    save_checkpoint_in(dir.path(), 2, st, some_shape(), {{"param/w", DType::F32, {4}, w.data()}});
  }
  EXPECT_FALSE(fs::exists(fs::path(dir.path()) / checkpoint_file_name(10)));
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / checkpoint_file_name(20)));
  EXPECT_EQ(latest_checkpoint(dir.path()), (fs::path(dir.path()) / checkpoint_file_name(30)).string());
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << "stray " << e.path();
  // A leftover temporary file from a killed write is never taken for a checkpoint.
  std::ofstream((fs::path(dir.path()) / "step_00000040.ckpt.tmp.123").string()) << "partial";
  fs::remove(fs::path(dir.path()) / "latest");
  EXPECT_EQ(latest_checkpoint(dir.path()), (fs::path(dir.path()) / checkpoint_file_name(30)).string());
}

}  // namespace
}  // namespace alibi
