#include "data/dataset.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "core/hash.h"
#include "data/files.h"
#include "data/shard.h"
#include "support/temp_dir.h"

namespace alibi {
namespace {

// A minimal valid dataset: a stand-in tokenizer file (only its hash matters
// here), a train and a valid shard, and meta.json describing them.
DatasetMeta make_dataset(const testing::TempDir& dir) {
  const std::string model = "not really a model";
  dir.write("tokenizer.model", model);
  DatasetMeta meta;
  meta.dir = dir.path();
  meta.vocab_size = 500;
  meta.tokenizer_id = hex64(fnv1a64(model.data(), model.size()));
  write_shard(dir.file("train.bin"), 500, meta.tokenizer_id, std::vector<int32_t>(100, 7));
  write_shard(dir.file("valid.bin"), 500, meta.tokenizer_id, std::vector<int32_t>(20, 3));
  meta.splits.push_back({"train", "train.bin", "text:/x", 100, 80, 10, 2});
  meta.splits.push_back({"valid", "valid.bin", "text:/x", 20, 16, 2, 1});
  save_dataset_meta(meta);
  return meta;
}

std::string load_error(const std::string& dir) {
  try {
    load_dataset(dir);
  } catch (const DataError& error) {
    return error.what();
  }
  return "";
}

void edit_meta(const testing::TempDir& dir, const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json json = nlohmann::json::parse(read_file_bytes(dir.file("meta.json")));
  edit(json);
  dir.write("meta.json", json.dump());
}

TEST(Dataset, SavedMetaLoadsBack) {
  testing::TempDir dir("dataset");
  make_dataset(dir);
  DatasetMeta meta = load_dataset(dir.path());
  EXPECT_EQ(meta.vocab_size, 500);
  ASSERT_EQ(meta.splits.size(), 2u);
  EXPECT_EQ(meta.splits[0].name, "train");  // file order is kept
  EXPECT_EQ(meta.split("valid").tokens, 20);
  EXPECT_EQ(meta.split("train").words, 80);
  EXPECT_EQ(meta.split("train").lines, 10);
  EXPECT_EQ(meta.split("train").documents, 2);
  EXPECT_EQ(meta.shard_path("valid"), dir.file("valid.bin"));
  EXPECT_TRUE(meta.has_split("train"));
  EXPECT_FALSE(meta.has_split("test"));
}

TEST(Dataset, UnknownSplitListsAvailableOnes) {
  testing::TempDir dir("dataset");
  DatasetMeta meta = make_dataset(dir);
  try {
    meta.split("test");
    FAIL();
  } catch (const DataError& error) {
    EXPECT_NE(std::string(error.what()).find("available: train, valid"), std::string::npos) << error.what();
  }
}

TEST(Dataset, MissingMetaFileIsNamed) {
  testing::TempDir dir("dataset");
  EXPECT_NE(load_error(dir.path()).find("meta.json is missing"), std::string::npos);
}

TEST(Dataset, MissingKeyIsNamed) {
  testing::TempDir dir("dataset");
  make_dataset(dir);
  edit_meta(dir, [](nlohmann::json& json) { json["splits"]["valid"].erase("tokens"); });
  const std::string message = load_error(dir.path());
  EXPECT_NE(message.find("meta.json"), std::string::npos) << message;
  EXPECT_NE(message.find("splits.valid.tokens"), std::string::npos) << message;
  edit_meta(dir, [](nlohmann::json& json) { json.erase("vocab_size"); });
  EXPECT_NE(load_error(dir.path()).find("\"vocab_size\""), std::string::npos);
}

TEST(Dataset, ShardHeaderMustAgreeWithMeta) {
  testing::TempDir dir("dataset");
  make_dataset(dir);
  edit_meta(dir, [](nlohmann::json& json) { json["splits"]["train"]["tokens"] = 99; });
  std::string message = load_error(dir.path());
  EXPECT_NE(message.find("token count 100 does not match meta.json (99)"), std::string::npos) << message;
  EXPECT_NE(message.find("train.bin"), std::string::npos) << message;

  make_dataset(dir);
  edit_meta(dir, [](nlohmann::json& json) { json["vocab_size"] = 501; });
  EXPECT_NE(load_error(dir.path()).find("vocab size 500 does not match"), std::string::npos);
}

TEST(Dataset, ReplacedTokenizerIsRefused) {
  testing::TempDir dir("dataset");
  make_dataset(dir);
  dir.write("tokenizer.model", "a different model");
  EXPECT_NE(load_error(dir.path()).find("tokenizer"), std::string::npos);
}

TEST(Dataset, ShardFromAnotherTokenizerIsRefused) {
  testing::TempDir dir("dataset");
  make_dataset(dir);
  write_shard(dir.file("valid.bin"), 500, "ffffffffffffffff", std::vector<int32_t>(20, 3));
  EXPECT_NE(load_error(dir.path()).find("tokenizer id ffffffffffffffff does not match"), std::string::npos);
}

}  // namespace
}  // namespace alibi
