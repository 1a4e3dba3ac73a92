// The safetensors writer and reader: a round trip keeps every byte, and
// hostile files (lengths that wrap, deep nesting, duplicate names, offsets
// outside the data, shapes whose size overflows, holes and overlaps) end in
// an error that names the file, never in a crash or an out-of-bounds read.
#include "export/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "core/bf16.h"
#include "support/temp_dir.h"

namespace alibi {
namespace {

std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

// A file of the given header text and data bytes; `length` overrides the
// header length field.
std::string craft(const testing::TempDir& dir, const std::string& header, const std::string& data,
                  uint64_t length = UINT64_MAX) {
  return dir.write("crafted.safetensors", u64_le(length == UINT64_MAX ? header.size() : length) + header + data);
}

void expect_refused(const std::string& path, const std::string& reason) {
  try {
    SafetensorsFile file(path);
    FAIL() << "accepted a file that should be refused for: " << reason;
  } catch (const SafetensorsError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find(reason), std::string::npos) << message;
  }
}

TEST(Safetensors, RoundTripKeepsEveryByteAndTheMetadata) {
  testing::TempDir dir("safetensors");
  const std::vector<float> f = {1.5f, -2.25f, 3e-8f, 1e30f, 0.f, -0.f};
  const std::vector<uint16_t> h = {bf16_from_float(1.f), bf16_from_float(-3.5f), bf16_from_float(7.f)};
  const std::vector<int32_t> i = {-7, 0, 2147483647};
  const std::string path = dir.file("t.safetensors");
  write_safetensors(path, {{"a.f32", "F32", {2, 3}, f.data()}, {"b", "BF16", {3}, h.data()}, {"c", "I32", {3, 1}, i.data()}},
                    {{"format", "pt"}, {"note", "x"}});
  const SafetensorsFile file(path);
  ASSERT_EQ(file.entries().size(), 3u);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_EQ(file.metadata().at("note"), "x");
  const SafetensorsEntry* a = file.find("a.f32");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(file.read_f32(*a), f);
  EXPECT_EQ(file.read_f32(*file.find("b")), (std::vector<float>{1.f, -3.5f, 7.f}));
  const std::vector<char> ints = file.read_bytes(*file.find("c"));
  ASSERT_EQ(ints.size(), 12u);
  EXPECT_EQ(std::memcmp(ints.data(), i.data(), 12), 0);
  EXPECT_EQ(file.find("missing"), nullptr);
  // The data section starts 8-byte aligned, as the format recommends.
  std::ifstream in(path, std::ios::binary);
  uint64_t header_bytes = 0;
  in.read(reinterpret_cast<char*>(&header_bytes), 8);
  EXPECT_EQ(header_bytes % 8, 0u);
}

TEST(Safetensors, HalfPrecisionWeightsReadAsFloats) {
  testing::TempDir dir("safetensors");
  // F16: 1, -2, the smallest subnormal 2^-24, +inf; BF16: 0.5, -1
  const std::string data = std::string("\x00\x3c\x00\xc0\x01\x00\x00\x7c", 8) + std::string("\x00\x3f\x80\xbf", 4);
  const std::string header = R"({"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}})";
  const SafetensorsFile file(craft(dir, header, data));
  const std::vector<float> h = file.read_f32(*file.find("h"));
  EXPECT_EQ(h[0], 1.f);
  EXPECT_EQ(h[1], -2.f);
  EXPECT_EQ(h[2], 5.9604644775390625e-8f);
  EXPECT_TRUE(std::isinf(h[3]) && h[3] > 0);
  EXPECT_EQ(file.read_f32(*file.find("b")), (std::vector<float>{0.5f, -1.f}));
}

TEST(Safetensors, OtherDtypesAreNotReadAsWeights) {
  testing::TempDir dir("safetensors");
  const SafetensorsFile file(craft(dir, R"({"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", std::string(8, '\0')));
  EXPECT_THROW(file.read_f32(*file.find("i")), SafetensorsError);
}

TEST(Safetensors, HeaderLengthsThatDoNotFitAreRefused) {
  testing::TempDir dir("safetensors");
  expect_refused(dir.write("short", "abc"), "too short");
  const std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  expect_refused(craft(dir, header, "abcd", 1ull << 62), "header length");
  // 8 + length wraps around to a small number.
  expect_refused(craft(dir, header, "abcd", UINT64_MAX - 3), "header length");
  expect_refused(craft(dir, header, "abcd", header.size() + 5), "header length");
}

TEST(Safetensors, MalformedHeadersAreRefused) {
  testing::TempDir dir("safetensors");
  expect_refused(craft(dir, "{not json", ""), "not valid JSON");
  expect_refused(craft(dir, "[1,2]", ""), "must be a JSON object");
  expect_refused(craft(dir, std::string(20000, '[') + std::string(20000, ']'), ""), "nests deeper");
  expect_refused(craft(dir, R"({"a":{"dtype":"F32","shape":[[[[1]]]],"data_offsets":[0,4]}})", "abcd"), "nests deeper");
  expect_refused(craft(dir,
                       R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                       "abcdefgh"),
                 "names 'a' twice");
  expect_refused(craft(dir, R"({"a":{"dtype":"F32","shape":[1]}})", "abcd"), "needs dtype, shape and data_offsets");
  expect_refused(craft(dir, R"({"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}})", "abcd"), "unknown dtype");
  expect_refused(craft(dir, R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "abcd"), "non-negative");
  expect_refused(craft(dir, R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", "abcd"), "non-negative");
  expect_refused(craft(dir, R"({"__metadata__":{"format":3}})", ""), "must be a string");
}

TEST(Safetensors, OffsetsAndSizesAreCheckedWithoutOverflow) {
  testing::TempDir dir("safetensors");
  expect_refused(craft(dir, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "abcd"), "lie outside");
  // An end that would wrap if begin + size were computed.
  expect_refused(craft(dir, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,0]}})", "abcd"),
                 "lie outside");
  expect_refused(craft(dir, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "abcd"), "need 8");
  expect_refused(craft(dir, R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,4]}})", "abcd"),
                 "size overflows");
  // Offsets past 2^64 are not integers JSON can hold exactly.
  expect_refused(craft(dir, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,1e30]}})", "abcd"), "non-negative");
}

TEST(Safetensors, TensorsMustTileTheDataExactly) {
  testing::TempDir dir("safetensors");
  const std::string two = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[%s]}})";
  auto with_b = [&](const std::string& offsets) {
    std::string h = two;
    h.replace(h.find("%s"), 2, offsets);
    return h;
  };
  expect_refused(craft(dir, with_b("0,4"), "abcdefgh"), "overlap or leave a gap");  // b over a
  expect_refused(craft(dir, with_b("8,12"), "abcdefghijkl"), "overlap or leave a gap");  // a hole
  expect_refused(craft(dir, with_b("4,8"), "abcdefghij"), "cover 8 of the 10");  // trailing bytes
  EXPECT_NO_THROW(SafetensorsFile(craft(dir, with_b("4,8"), "abcdefgh")));
}

}  // namespace
}  // namespace alibi
