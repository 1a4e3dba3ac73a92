// The bias gradient's column sums against a double-precision sum on the
// host: fp32 accumulation of bf16 values, so relative L2 <= 1e-5 and max
// |error| <= 1e-5 * max|ref|. Odd sizes take the scalar path (OC % 8 != 0)
// and ragged row chunks; a workspace of OC floats forces a single chunk.
#include "kernels/bias_grad.cuh"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "tests/cuda/kernel_test_util.h"

namespace alibi::cuda {
namespace {

using test::DeviceArray;

struct Case {
  int64_t N, OC;
  size_t workspace_bytes;
};

std::vector<float> run(const Case& c, const DeviceArray<uint16_t>& dout, const std::vector<float>& dbias0,
                       bool accumulate = true) {
  DeviceArray<float> dbias(c.OC);
  DeviceArray<uint8_t> workspace(c.workspace_bytes);
  workspace.poison();  // partials must all be written before they are summed
  dbias.upload(dbias0);
  bias_grad(dbias.get(), reinterpret_cast<const __nv_bfloat16*>(dout.get()), c.N, c.OC, workspace.get(),
            c.workspace_bytes, nullptr, accumulate);
  test::cuda_check(cudaDeviceSynchronize(), "bias_grad");
  return dbias.download();
}

void check(const Case& c, uint64_t seed) {
  SCOPED_TRACE("N=" + std::to_string(c.N) + " OC=" + std::to_string(c.OC) + " workspace " +
               std::to_string(c.workspace_bytes));
  const std::vector<float> dout = test::random_bf16_values(c.N * c.OC, seed);
  const std::vector<float> dbias0 = test::random_bf16_values(c.OC, seed + 1);
  DeviceArray<uint16_t> d_dout(dout.size());
  d_dout.upload(test::to_bf16(dout));
  std::vector<float> want(c.OC);
  for (int64_t o = 0; o < c.OC; ++o) {
    double s = dbias0[o];
    for (int64_t n = 0; n < c.N; ++n) s += dout[n * c.OC + o];
    want[o] = static_cast<float>(s);
  }
  const std::vector<float> got = run(c, d_dout, dbias0);
  test::expect_close(got, want, 1e-5, 1e-5, "dbias");
  EXPECT_EQ(got, run(c, d_dout, dbias0)) << "two runs differ: the sum must not depend on timing";
  // Written, not added: over NaN, the bits of adding into zeros.
  const std::vector<float> nan(c.OC, std::numeric_limits<float>::quiet_NaN()), zeros(c.OC, 0.f);
  EXPECT_EQ(run(c, d_dout, nan, /*accumulate=*/false), run(c, d_dout, zeros)) << "the sums written";
}

TEST(CudaBiasGrad, MatchesDoubleSumAtOddAndModelSizes) {
  ALIBI_SKIP_WITHOUT_GPU();
  const size_t big = size_t{32} << 20;
  check({1, 8, big}, 1);
  check({77, 300, big}, 2);        // scalar path, one ragged chunk
  check({1000, 2304, big}, 3);     // vector path, chunks of 125 rows
  check({4099, 768, big}, 4);      // N not a multiple of the chunk
  check({16384, 3072, big}, 5);    // the 124M model's MLP
  check({4099, 768, 768 * 4}, 6);  // workspace for one chunk only
  check({513, 37, 37 * 4 * 3}, 7); // three chunks, scalar path
}

// OC columns of wider rows (the q third of a [N, 3C] gradient, a middle
// part, odd widths on the scalar path): the sums of those columns only.
TEST(CudaBiasGrad, StridedRowsSumTheirOwnColumns) {
  ALIBI_SKIP_WITHOUT_GPU();
  struct Strided {
    int64_t N, OC, ld, first;
  };
  for (const Strided& c : {Strided{1000, 768, 2304, 0}, Strided{777, 64, 192, 64}, Strided{300, 37, 111, 5}}) {
    SCOPED_TRACE("N=" + std::to_string(c.N) + " OC=" + std::to_string(c.OC) + " ld=" + std::to_string(c.ld));
    const std::vector<float> rows = test::random_bf16_values(c.N * c.ld, 9);
    DeviceArray<uint16_t> d_rows(rows.size());
    d_rows.upload(test::to_bf16(rows));
    DeviceArray<float> dbias(c.OC);
    DeviceArray<uint8_t> workspace(size_t{1} << 20);
    workspace.poison();
    dbias.upload(std::vector<float>(c.OC, std::numeric_limits<float>::quiet_NaN()));
    bias_grad_strided(dbias.get(), reinterpret_cast<const __nv_bfloat16*>(d_rows.get()) + c.first, c.N, c.OC, c.ld,
                      workspace.get(), size_t{1} << 20, nullptr, /*accumulate=*/false);
    test::cuda_check(cudaDeviceSynchronize(), "bias_grad_strided");
    std::vector<float> want(c.OC);
    for (int64_t o = 0; o < c.OC; ++o) {
      double s = 0;
      for (int64_t n = 0; n < c.N; ++n) s += rows[n * c.ld + c.first + o];
      want[o] = static_cast<float>(s);
    }
    test::expect_close(dbias.download(), want, 1e-5, 1e-5, "dbias");
  }
}

TEST(CudaBiasGrad, TooSmallAWorkspaceIsAnError) {
  ALIBI_SKIP_WITHOUT_GPU();
  DeviceArray<uint16_t> dout(64 * 16);
  DeviceArray<float> dbias(16), workspace(15);
  EXPECT_THROW(bias_grad(dbias.get(), reinterpret_cast<const __nv_bfloat16*>(dout.get()), 64, 16, workspace.get(),
                         15 * sizeof(float), nullptr),
               std::runtime_error);
}

}  // namespace
}  // namespace alibi::cuda
