// CUDA add, scale, dropout, copy (f32 <-> bf16) and fill_zero against the CPU.
#include "tests/cuda/cuda_test_util.h"

namespace alibi::cudatest {
namespace {

// 12347 elements: not a multiple of the 8-wide vector, so the tail runs too.
constexpr int64_t kN = 12347;

TEST(CudaElementwise, AddAndScaleMatchCpuInBf16AndF32) {
  ALIBI_REQUIRE_GPU();
  Backends be;
  const auto a = round_bf16(random_values(kN, 1)), b = round_bf16(random_values(kN, 2));
  Owned ca = be.to_cpu(a, {kN}), cb = be.to_cpu(b, {kN}), cout = allocate(*be.cpu, {kN}, DType::F32);
  be.cpu->add(cout.t, ca.t, cb.t);
  be.cpu->scale(cout.t, 0.37f);
  const auto want = be.download_cpu(cout.t);
  for (DType dtype : {DType::BF16, DType::F32}) {
    Owned ga = be.to_gpu(a, {kN}, dtype), gb = be.to_gpu(b, {kN}, dtype), gout = allocate(*be.gpu, {kN}, dtype);
    be.poison(gout.t);
    be.gpu->add(gout.t, ga.t, gb.t);
    be.gpu->scale(gout.t, 0.37f);
    EXPECT_TRUE(close(be.download(gout.t), want, dtype == DType::F32 ? 1e-6 : kBf16Tol)) << dtype_name(dtype);
  }
}

TEST(CudaElementwise, AddHandlesUnalignedViewsAndAliasing) {
  ALIBI_REQUIRE_GPU();
  Backends be;
  const int64_t n = 1001;
  const auto a = round_bf16(random_values(n + 1, 3));
  Owned g = be.to_gpu(a, {n + 1}, DType::BF16);
  // A view starting one element in: not 16-byte aligned, the scalar path.
  Tensor view(static_cast<char*>(g.t.data) + 2, {n}, DType::BF16, Device::CUDA);
  be.gpu->add(view, view, view);  // out aliases both inputs
  const auto got = be.download(g.t);
  std::vector<float> want(a);
  for (int64_t i = 1; i <= n; ++i) want[i] = 2 * a[i];
  EXPECT_TRUE(close(got, want, 0));
}

TEST(CudaElementwise, DropoutMaskIsTheCpuMaskBitForBit) {
  ALIBI_REQUIRE_GPU();
  Backends be;
  const auto x = round_bf16(random_values(kN, 4));
  const uint64_t seed = derive_seed(7, 3, 1);
  for (float p : {0.f, 0.1f, 0.5f, 1.f}) {
    Owned cx = be.to_cpu(x, {kN});
    be.cpu->dropout_forward(cx.t, p, seed);
    const auto want = be.download_cpu(cx.t);
    // f32: the same single multiply, so identical bits.
    Owned gf = be.to_gpu(x, {kN}, DType::F32);
    be.gpu->dropout_forward(gf.t, p, seed);
    EXPECT_TRUE(same_bits(be.download(gf.t), want)) << "p=" << p;
    // bf16: the same zeros; kept values rounded.
    Owned gb = be.to_gpu(x, {kN}, DType::BF16);
    be.gpu->dropout_backward(gb.t, p, seed);
    const auto got = be.download(gb.t);
    EXPECT_TRUE(close(got, want, kBf16Tol)) << "p=" << p;
    for (int64_t i = 0; i < kN; ++i)
      ASSERT_EQ(got[i] == 0.f, want[i] == 0.f) << "mask differs at " << i << " p=" << p;
  }
}

TEST(CudaElementwise, CopyConvertsWithRoundToNearestEven) {
  ALIBI_REQUIRE_GPU();
  Backends be;
  auto x = random_values(kN, 5, 100.f);
  x[0] = 1.00390625f;  // exactly halfway between two bf16 values: rounds to even (1.0)
  Owned g = be.to_gpu(x, {kN}, DType::BF16);
  const auto got = be.download(g.t);
  EXPECT_TRUE(same_bits(got, round_bf16(x)));
  EXPECT_EQ(got[0], 1.f);
  // Same-dtype copy is a plain copy.
  Owned other = allocate(*be.gpu, {kN}, DType::BF16);
  be.poison(other.t);
  be.gpu->copy(other.t, g.t);
  EXPECT_TRUE(same_bits(be.download(other.t), got));
}

TEST(CudaElementwise, FillZeroWritesEveryByte) {
  ALIBI_REQUIRE_GPU();
  Backends be;
  Owned g = allocate(*be.gpu, {kN}, DType::BF16);
  be.poison(g.t);
  be.gpu->fill_zero(g.t);
  EXPECT_TRUE(same_bits(be.download(g.t), std::vector<float>(kN, 0.f)));
}

}  // namespace
}  // namespace alibi::cudatest
