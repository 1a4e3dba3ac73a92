// CUDA bf16 transpose against a host transpose: a copy, so equal bit for bit.
#include "kernels/transpose.cuh"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/cuda/kernel_test_util.h"

namespace alibi::cuda {
namespace {

using test::DeviceArray;

void check_transpose(int64_t rows, int64_t cols, uint64_t seed) {
  SCOPED_TRACE("rows=" + std::to_string(rows) + " cols=" + std::to_string(cols));
  const std::vector<uint16_t> in = test::to_bf16(test::random_bf16_values(rows * cols, seed));
  std::vector<uint16_t> want(in.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) want[c * rows + r] = in[r * cols + c];
  DeviceArray<uint16_t> d_in(in.size()), d_out(in.size());
  d_in.upload(in);
  d_out.poison();
  transpose(reinterpret_cast<__nv_bfloat16*>(d_out.get()), reinterpret_cast<const __nv_bfloat16*>(d_in.get()), rows,
            cols, nullptr);
  test::cuda_check(cudaDeviceSynchronize(), "transpose");
  EXPECT_EQ(d_out.download(), want);
}

TEST(CudaTranspose, EqualsTheHostTransposeAtOddShapes) {
  ALIBI_SKIP_WITHOUT_GPU();
  check_transpose(1, 1, 1);
  check_transpose(33, 70, 2);    // neither a multiple of the 32-wide tile
  check_transpose(100, 3, 3);    // one partial tile column
  check_transpose(768, 3072, 4); // GPT-2's MLP output layer
}

}  // namespace
}  // namespace alibi::cuda
