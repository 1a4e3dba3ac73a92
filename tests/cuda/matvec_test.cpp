// The matrix-vector kernels (a few rows) against the fp32 CPU reference on the
// same bf16 inputs: LayerNorm (rounded to bf16, as the kernel keeps it), the
// product, bias and each epilogue. Tolerances as for cuBLASLt's products
// (matmul_test.cpp): one bf16 rounding on a differently ordered fp32 sum.
#include "kernels/matvec.cuh"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "cpu/gelu.h"
#include "cpu/layernorm.h"
#include "cpu/matmul.h"
#include "tests/cuda/kernel_test_util.h"

namespace alibi::cuda {
namespace {

using test::bf16;
using test::DeviceArray;
using test::expect_close;
using test::from_bf16;
using test::random_bf16_values;
using test::round_bf16;
using test::to_bf16;

struct Case {
  int64_t N, C, OC;
  MatvecEpilogue epilogue;
  bool norm, bias;
};

std::string describe(const Case& c) {
  const char* names[] = {"bias", "residual", "gelu"};
  return "N=" + std::to_string(c.N) + " C=" + std::to_string(c.C) + " OC=" + std::to_string(c.OC) + " epilogue " +
         names[static_cast<int>(c.epilogue)] + (c.norm ? ", LayerNorm first" : "") + (c.bias ? "" : ", no bias");
}

// One case on fresh random inputs, every output poisoned first.
void check(const Case& c, uint64_t seed) {
  SCOPED_TRACE(describe(c));
  const std::vector<float> inp = random_bf16_values(c.N * c.C, seed, 2.0), weight = random_bf16_values(c.OC * c.C, seed + 1, 0.05),
                           bias = random_bf16_values(c.OC, seed + 2), residual = random_bf16_values(c.N * c.OC, seed + 3),
                           ln_w = random_bf16_values(c.C, seed + 4), ln_b = random_bf16_values(c.C, seed + 5);
  DeviceArray<uint16_t> d_inp(inp.size()), d_w(weight.size()), d_b(bias.size()), d_res(residual.size()),
      d_lnw(ln_w.size()), d_lnb(ln_b.size()), d_out(c.N * c.OC), d_pre(c.N * c.OC), d_ln(c.N * c.C);
  DeviceArray<float> d_mean(c.N), d_rstd(c.N);
  d_inp.upload(to_bf16(inp)), d_w.upload(to_bf16(weight)), d_b.upload(to_bf16(bias)), d_res.upload(to_bf16(residual));
  d_lnw.upload(to_bf16(ln_w)), d_lnb.upload(to_bf16(ln_b));
  for (auto* a : {&d_out, &d_pre, &d_ln}) a->poison();
  d_mean.poison(), d_rstd.poison();

  const MatvecNorm norm{bf16(d_lnw), bf16(d_lnb), 1e-5f, bf16(d_ln), d_mean.get(), d_rstd.get()};
  MatvecArgs a{bf16(d_out), bf16(d_inp), bf16(d_w), c.bias ? bf16(d_b) : nullptr, c.N, c.C, c.OC, c.epilogue};
  a.residual = bf16(d_res), a.pre = bf16(d_pre), a.norm = c.norm ? &norm : nullptr;
  ASSERT_TRUE(matvec_suits(a));
  matvec(a, nullptr);
  test::cuda_check(cudaDeviceSynchronize(), "matvec");

  std::vector<float> x = inp, mean(c.N), rstd(c.N);
  if (c.norm) {
    cpu::layernorm_forward(x.data(), mean.data(), rstd.data(), inp.data(), ln_w.data(), ln_b.data(), c.N, c.C, 1e-5f);
    expect_close(from_bf16(d_ln.download()), x, 1e-2, 2e-2, "LayerNorm out");
    expect_close(d_mean.download(), mean, 1e-5, 1e-5, "mean");
    expect_close(d_rstd.download(), rstd, 1e-4, 1e-4, "rstd");
    for (float& v : x) v = round_bf16(v);
  }
  std::vector<float> want(c.N * c.OC);
  cpu::matmul_forward(want.data(), x.data(), weight.data(), c.bias ? bias.data() : nullptr, c.N, c.C, c.OC);
  if (c.epilogue == MatvecEpilogue::Residual)
    for (size_t i = 0; i < want.size(); ++i) want[i] += residual[i];
  if (c.epilogue == MatvecEpilogue::Gelu) {
    expect_close(from_bf16(d_pre.download()), want, 1e-2, 2e-2, "pre");
    std::vector<float> pre = from_bf16(d_pre.download()), out(pre.size());
    cpu::gelu_forward(out.data(), pre.data(), static_cast<int64_t>(pre.size()));  // GELU of pre as stored
    want = out;
  }
  expect_close(from_bf16(d_out.download()), want, 1e-2, 2e-2, "out");
}

TEST(CudaMatvec, MatchesTheCpuForEveryEpilogueAndOddShapes) {
  ALIBI_SKIP_WITHOUT_GPU();
  uint64_t seed = 100;
  for (const Case& c : std::vector<Case>{
           {1, 768, 2304, MatvecEpilogue::Bias, true, true},      // a 124M decode step's qkv
           {1, 3072, 768, MatvecEpilogue::Residual, false, true},  // its MLP output
           {8, 3072, 768, MatvecEpilogue::Gelu, true, true},      // eight rows and a norm: 60 KiB of shared memory
           {3, 200, 77, MatvecEpilogue::Residual, false, false},  // widths no tile divides
           {5, 64, 4099, MatvecEpilogue::Gelu, false, true},      // many groups a block
           {2, 4104, 13, MatvecEpilogue::Bias, true, true},       // rows of two rounds
           {7, 8, 1, MatvecEpilogue::Bias, true, false},          // one piece, one output
       })
    check(c, seed += 10);
}

TEST(CudaMatvec, AnLmHeadSizedProduct) {
  ALIBI_SKIP_WITHOUT_GPU();
  check({1, 768, 50304, MatvecEpilogue::Bias, true, false}, 7);
}

// Each product reads the one before it, as a decode step's chain of
// dependent launches does: a launch that read its input before the previous
// kernel finished would see the poison.
TEST(CudaMatvec, ChainedLaunchesReadTheirPredecessorsOutput) {
  ALIBI_SKIP_WITHOUT_GPU();
  const int64_t N = 2, C = 1024, layers = 24;
  const std::vector<float> weight = random_bf16_values(C * C, 3, 1.0 / 32), x0 = random_bf16_values(N * C, 4);
  DeviceArray<uint16_t> d_w(weight.size());
  d_w.upload(to_bf16(weight));
  std::vector<std::unique_ptr<DeviceArray<uint16_t>>> xs;
  for (int64_t l = 0; l <= layers; ++l) {
    xs.push_back(std::make_unique<DeviceArray<uint16_t>>(N * C));
    xs.back()->poison();
  }
  xs[0]->upload(to_bf16(x0));
  for (int64_t l = 0; l < layers; ++l) {
    const MatvecArgs a{bf16(*xs[l + 1]), bf16(*xs[l]), bf16(d_w), nullptr, N, C, C, MatvecEpilogue::Residual,
                       bf16(*xs[l])};
    matvec(a, nullptr);
  }
  test::cuda_check(cudaDeviceSynchronize(), "matvec chain");
  std::vector<float> x = x0, y(N * C);
  for (int64_t l = 0; l < layers; ++l) {
    cpu::matmul_forward(y.data(), x.data(), weight.data(), static_cast<const float*>(nullptr), N, C, C);
    for (int64_t i = 0; i < N * C; ++i) x[i] = round_bf16(y[i] + x[i]);
  }
  expect_close(from_bf16(xs[layers]->download()), x, 2e-2, 5e-2, "after the chain");
}

// Only pointers and shapes are looked at: no GPU needed.
TEST(CudaMatvec, TakesOnlyWhatItCanServe) {
  alignas(16) static __nv_bfloat16 buffer[64];
  __nv_bfloat16* p = buffer;
  MatvecArgs a{p, p, p, nullptr, 1, 64, 64};
  EXPECT_TRUE(matvec_suits(a));
  a.N = 9;
  EXPECT_FALSE(matvec_suits(a)) << "more rows than a matrix-vector kernel takes";
  a.N = 1, a.C = 60;
  EXPECT_FALSE(matvec_suits(a)) << "a width not a multiple of 8";
  a.C = 64, a.inp = p + 1;
  EXPECT_FALSE(matvec_suits(a)) << "an input not 16-byte aligned";
  a.inp = p, a.N = 8, a.C = 8192;
  EXPECT_FALSE(matvec_suits(a)) << "eight rows of 8192 do not fit its shared memory";
  a.N = 5, a.C = 4096;
  EXPECT_TRUE(matvec_suits(a)) << "eight rows' room for five rows of 4096";
}

}  // namespace
}  // namespace alibi::cuda
