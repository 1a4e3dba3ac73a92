#include "data/shard.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "support/temp_dir.h"

namespace alibi {
namespace {

const std::string kTokenizerId = "0123456789abcdef";

std::vector<int32_t> ramp(int64_t count, int64_t vocab) {
  std::vector<int32_t> tokens(count);
  for (int64_t i = 0; i < count; ++i) tokens[i] = static_cast<int32_t>((i * 7919) % vocab);
  return tokens;
}

// Overwrites `bytes.size()` bytes at `offset` of a file.
void patch(const std::string& path, std::streamoff offset, const std::string& bytes) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekp(offset);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string error_of(const std::string& path) {
  try {
    ShardReader reader(path);
  } catch (const DataError& error) {
    return error.what();
  }
  return "";
}

void expect_round_trip(int64_t vocab, int expected_width) {
  testing::TempDir dir("shard");
  const std::string path = dir.file("x.bin");
  const std::vector<int32_t> tokens = ramp(1000, vocab);
  write_shard(path, vocab, kTokenizerId, tokens);
  EXPECT_EQ(std::filesystem::file_size(path), kShardHeaderSize + 1000u * expected_width);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  ShardReader reader(path);
  EXPECT_EQ(reader.size(), 1000);
  EXPECT_EQ(reader.vocab_size(), vocab);
  EXPECT_EQ(reader.tokenizer_id(), kTokenizerId);
  EXPECT_EQ(static_cast<int>(reader.header().token_width), expected_width);
  std::vector<int32_t> back(1000);
  reader.read(0, 1000, back.data());
  EXPECT_EQ(back, tokens);
  EXPECT_EQ(reader.token(999), tokens[999]);
  std::vector<int32_t> middle(10);
  reader.read(500, 10, middle.data());
  EXPECT_EQ(middle, std::vector<int32_t>(tokens.begin() + 500, tokens.begin() + 510));
  EXPECT_THROW(reader.read(995, 10, back.data()), DataError);
}

TEST(Shard, RoundTripU16) { expect_round_trip(65536, 2); }
TEST(Shard, RoundTripU32) { expect_round_trip(70000, 4); }

TEST(Shard, HeaderLayoutIsLittleEndianAtDocumentedOffsets) {
  testing::TempDir dir("shard");
  const std::string path = dir.file("x.bin");
  write_shard(path, 300, kTokenizerId, {1, 258});
  std::ifstream in(path, std::ios::binary);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(bytes.size(), 68u);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 8), "ALIBITOK");
  EXPECT_EQ(bytes[8], 1);    // version
  EXPECT_EQ(bytes[12], 2);   // token width
  EXPECT_EQ(bytes[16], 2);   // token count
  EXPECT_EQ(bytes[24], 300 & 0xff);
  EXPECT_EQ(bytes[25], 300 >> 8);
  EXPECT_EQ(std::string(bytes.begin() + 32, bytes.begin() + 48), kTokenizerId);
  EXPECT_EQ(bytes[64], 1);
  EXPECT_EQ(bytes[66], 258 & 0xff);
  EXPECT_EQ(bytes[67], 258 >> 8);
}

TEST(Shard, WriterRefusesTokensOutsideVocab) {
  testing::TempDir dir("shard");
  const std::string path = dir.file("x.bin");
  {
    ShardWriter writer(path, 100, kTokenizerId);
    EXPECT_THROW(writer.append({1, 2, 100}), DataError);
    EXPECT_THROW(writer.append({-1}), DataError);
  }
  // The unfinished shard leaves nothing behind.
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(Shard, TruncatedShardIsRefusedWithSizes) {
  testing::TempDir dir("shard");
  const std::string path = dir.file("train.bin");
  write_shard(path, 1000, kTokenizerId, ramp(1000, 1000));
  std::filesystem::resize_file(path, kShardHeaderSize + 1500);
  const std::string message = error_of(path);
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("truncated: header says 1000 tokens (2000 bytes) but file holds 1500 bytes"),
            std::string::npos)
      << message;
  std::filesystem::resize_file(path, 10);
  EXPECT_NE(error_of(path).find("truncated"), std::string::npos);
}

TEST(Shard, TrailingBytesAreRefused) {
  testing::TempDir dir("shard");
  const std::string path = dir.file("x.bin");
  write_shard(path, 1000, kTokenizerId, ramp(10, 1000));
  std::filesystem::resize_file(path, kShardHeaderSize + 21);
  EXPECT_NE(error_of(path).find("trailing bytes"), std::string::npos);
}

TEST(Shard, BadMagicIsRefused) {
  testing::TempDir dir("shard");
  const std::string path = dir.file("x.bin");
  write_shard(path, 1000, kTokenizerId, ramp(10, 1000));
  patch(path, 0, "NOTTOKEN");
  EXPECT_NE(error_of(path).find("bad magic"), std::string::npos);
}

TEST(Shard, WrongVersionIsRefused) {
  testing::TempDir dir("shard");
  const std::string path = dir.file("x.bin");
  write_shard(path, 1000, kTokenizerId, ramp(10, 1000));
  patch(path, 8, std::string("\x02\x00\x00\x00", 4));
  EXPECT_NE(error_of(path).find("unsupported format version 2"), std::string::npos);
}

TEST(Shard, WidthThatContradictsVocabIsRefused) {
  testing::TempDir dir("shard");
  const std::string path = dir.file("x.bin");
  write_shard(path, 1000, kTokenizerId, ramp(10, 1000));
  patch(path, 12, std::string("\x04\x00\x00\x00", 4));
  EXPECT_NE(error_of(path).find("does not match vocab size"), std::string::npos);
}

// A corrupt id deep in a shard is found when the shard is opened, with its
// place, not later by whichever window draws it.
TEST(Shard, ReaderFindsATokenOutsideTheVocabularyAtLoad) {
  testing::TempDir dir("shard");
  const std::string path = dir.file("train.bin");
  write_shard(path, 1000, kTokenizerId, ramp(10000, 1000));
  EXPECT_EQ(error_of(path), "");
  patch(path, kShardHeaderSize + 2 * 9000, std::string("\xe8\x03", 2));  // 1000 = vocab
  EXPECT_EQ(error_of(path), "shard " + path + ": token id 1000 at token 9000 (byte offset 18064) is outside the "
                            "vocabulary [0, 1000)");
  patch(path, kShardHeaderSize + 2 * 5, std::string("\xff\xff", 2));  // the first offender is named
  EXPECT_NE(error_of(path).find("token id 65535 at token 5 "), std::string::npos) << error_of(path);
}

TEST(Shard, ReaderFindsATokenOutsideTheVocabularyInU32Shards) {
  testing::TempDir dir("shard");
  const std::string path = dir.file("train.bin");
  write_shard(path, 70000, kTokenizerId, ramp(100, 70000));
  EXPECT_EQ(error_of(path), "");
  patch(path, kShardHeaderSize + 4 * 99, std::string("\xff\xff\xff\xff", 4));
  EXPECT_NE(error_of(path).find("token id 4294967295 at token 99 "), std::string::npos) << error_of(path);
}

// Found by scripts/fuzz.sh: a vocabulary past 2^31 - 1 let u32 ids through
// the range check that then read back as negative int32 tokens.
TEST(Shard, AVocabularyBeyondInt32IsRefused) {
  testing::TempDir dir("shard");
  const std::string path = dir.file("x.bin");
  write_shard(path, 70000, kTokenizerId, ramp(10, 70000));
  patch(path, 24, std::string("\x7f\xff\xff\xff", 4));  // vocab 4294967167
  EXPECT_NE(error_of(path).find("vocab size 4294967167, outside [1, 2147483647]"), std::string::npos) << error_of(path);
  EXPECT_THROW(write_shard(dir.file("y.bin"), int64_t{1} << 31, kTokenizerId, ramp(10, 1000)), DataError);
}

TEST(Shard, MissingFileNamesThePath) {
  const std::string message = error_of("/nonexistent/dir/x.bin");
  EXPECT_NE(message.find("/nonexistent/dir/x.bin"), std::string::npos);
}

}  // namespace
}  // namespace alibi
