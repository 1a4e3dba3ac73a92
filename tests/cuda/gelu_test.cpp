// CUDA GELU (tanh approximation) forward and backward against the CPU.
#include "tests/cuda/cuda_test_util.h"

namespace alibi::cudatest {
namespace {

TEST(CudaGelu, ForwardAndBackwardMatchCpu) {
  ALIBI_REQUIRE_GPU();
  Backends be;
  const int64_t n = 10007;
  const auto x = round_bf16(random_values(n, 11, 3.f)), dy = round_bf16(random_values(n, 12));
  Owned cx = be.to_cpu(x, {n}), cdy = be.to_cpu(dy, {n});
  Owned cy = allocate(*be.cpu, {n}, DType::F32), cdx = allocate(*be.cpu, {n}, DType::F32);
  be.cpu->gelu_forward(cy.t, cx.t);
  be.cpu->gelu_backward(cdx.t, cx.t, cdy.t);
  const auto want_y = be.download_cpu(cy.t), want_dx = be.download_cpu(cdx.t);
  for (DType dtype : {DType::BF16, DType::F32}) {
    // fp32 outputs differ from the CPU only through __expf (a few ulp).
    const double tol = dtype == DType::F32 ? kF32Tol : kBf16Tol;
    Owned gx = be.to_gpu(x, {n}, dtype), gdy = be.to_gpu(dy, {n}, dtype);
    Owned gy = allocate(*be.gpu, {n}, dtype), gdx = allocate(*be.gpu, {n}, dtype);
    be.poison(gy.t);
    be.poison(gdx.t);
    be.gpu->gelu_forward(gy.t, gx.t);
    be.gpu->gelu_backward(gdx.t, gx.t, gdy.t);
    EXPECT_TRUE(close(be.download(gy.t), want_y, tol)) << dtype_name(dtype);
    EXPECT_TRUE(close(be.download(gdx.t), want_dx, tol)) << dtype_name(dtype);
  }
}

}  // namespace
}  // namespace alibi::cudatest
