// CUDA sum of squares: matches the CPU (both sum in double and round once to
// the f32 result), same bits every run.
#include "tests/cuda/cuda_test_util.h"

namespace alibi::cudatest {
namespace {

TEST(CudaReduce, SumOfSquaresMatchesCpuAndIsDeterministic) {
  ALIBI_REQUIRE_GPU();
  Backends be;
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{4099}, int64_t{1000003}, int64_t{9000001}}) {
    const auto x = round_bf16(random_values(n, 71 + n));
    Owned c = be.to_cpu(x, {n});
    const double want = be.cpu->sum_of_squares(c.t);
    for (DType dtype : {DType::F32, DType::BF16}) {
      Owned g = be.to_gpu(x, {n}, dtype);
      const double got = be.gpu->sum_of_squares(g.t);
      // Both sum exact fp32 squares in double, in different orders, and round to f32.
      EXPECT_NEAR(got, want, 1.2e-7 * want) << "n=" << n << " " << dtype_name(dtype);
      EXPECT_EQ(got, be.gpu->sum_of_squares(g.t)) << "not deterministic, n=" << n;
    }
  }
}

}  // namespace
}  // namespace alibi::cudatest
