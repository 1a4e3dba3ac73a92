#include "core/tensor.h"

#include <gtest/gtest.h>

namespace alibi {

TEST(Tensor, ViewKeepsMemoryAndChecksCount) {
  float data[24] = {};
  Tensor t(data, {2, 3, 4}, DType::F32, Device::CPU);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.nbytes(), 96u);
  Tensor v = t.view({6, 4});
  EXPECT_EQ(v.data, t.data);
  EXPECT_THROW(t.view({5, 5}), std::logic_error);
}

TEST(Tensor, TypedAccessRejectsWrongDtype) {
  int32_t ids[4] = {};
  Tensor t(ids, {4}, DType::I32, Device::CPU);
  EXPECT_EQ(t.i32(), ids);
  EXPECT_THROW(t.f32(), std::logic_error);
}

TEST(Tensor, CheckShapeNamesTheTensor) {
  float data[6] = {};
  Tensor t(data, {2, 3}, DType::F32, Device::CPU);
  EXPECT_NO_THROW(check_shape(t, {2, 3}, "x"));
  try {
    check_shape(t, {3, 2}, "layernorm inp");
    FAIL() << "expected a shape error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("layernorm inp"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("f32[2,3]"), std::string::npos);
  }
}

TEST(Tensor, RangeIsAOneDimensionalWindowOfTheFlatElements) {
  uint16_t data[12] = {};
  Tensor t(data, {3, 4}, DType::BF16, Device::CPU);
  const Tensor r = t.range(5, 9);
  EXPECT_EQ(r.data, static_cast<void*>(data + 5));
  EXPECT_EQ(r.shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(r.dtype, DType::BF16);
  EXPECT_EQ(t.range(12, 12).numel(), 0);
  EXPECT_THROW(t.range(8, 13), std::logic_error);
  EXPECT_THROW(t.range(6, 5), std::logic_error);
}

}  // namespace alibi

namespace alibi {

// Shapes read from a file must not wrap to a small size (2^32 x 2^32 = 2^64 = 0 mod 2^64).
TEST(Tensor, NumelAndNbytesRefuseSizesBeyond64Bits) {
  const int64_t two32 = int64_t{1} << 32;
  Tensor huge(nullptr, {two32, two32}, DType::F32, Device::CPU);
  EXPECT_THROW(huge.numel(), std::length_error);
  EXPECT_THROW(huge.nbytes(), std::length_error);
  // 2^62 elements fit int64_t, but not 4 bytes each in 64 bits.
  Tensor wide(nullptr, {int64_t{1} << 62}, DType::F32, Device::CPU);
  EXPECT_EQ(wide.numel(), int64_t{1} << 62);
  EXPECT_THROW(wide.nbytes(), std::length_error);
  Tensor negative(nullptr, {4, -2}, DType::F32, Device::CPU);
  EXPECT_THROW(negative.numel(), std::length_error);
}

}  // namespace alibi
