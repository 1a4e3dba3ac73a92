// cuBLASLt matmul against the fp32 CPU reference on the same bf16 inputs.
// Tolerances: bf16 outputs (out, dinp) carry one bf16 rounding (2^-9
// relative) on top of a differently ordered fp32 sum: relative L2 <= 1e-2 and
// max |error| <= 2e-2 * max|ref|. fp32 outputs (dweight, dbias) only differ by
// summation order: relative L2 <= 1e-4, max <= 1e-4 * max|ref|.
#include "kernels/matmul.cuh"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "cpu/gelu.h"
#include "cpu/matmul.h"
#include "tests/cuda/kernel_test_util.h"

namespace alibi::cuda {
namespace {

using test::bf16;
using test::DeviceArray;
using test::expect_close;
using test::from_bf16;
using test::random_bf16_values;
using test::to_bf16;

struct Shape {
  int64_t N, C, OC;
};

std::string describe(const Shape& s, bool bias) {
  return "N=" + std::to_string(s.N) + " C=" + std::to_string(s.C) + " OC=" +
         std::to_string(s.OC) + (bias ? " with bias" : " without bias");
}

// Inputs of one linear layer, on the host (bf16-exact floats) and the device.
struct Problem {
  Shape s;
  std::vector<float> inp, weight, bias, dout;
  DeviceArray<uint16_t> d_inp, d_weight, d_bias, d_dout;
  explicit Problem(const Shape& s, uint64_t seed)
      : s(s),
        inp(random_bf16_values(s.N * s.C, seed)),
        weight(random_bf16_values(s.OC * s.C, seed + 1, 0.05)),
        bias(random_bf16_values(s.OC, seed + 2)),
        dout(random_bf16_values(s.N * s.OC, seed + 3)),
        d_inp(inp.size()),
        d_weight(weight.size()),
        d_bias(bias.size()),
        d_dout(dout.size()) {
    d_inp.upload(to_bf16(inp));
    d_weight.upload(to_bf16(weight));
    d_bias.upload(to_bf16(bias));
    d_dout.upload(to_bf16(dout));
  }
};

void check_forward(MatmulContext& ctx, const Shape& s, bool with_bias, uint64_t seed) {
  SCOPED_TRACE(describe(s, with_bias));
  Problem p(s, seed);
  DeviceArray<uint16_t> d_out(s.N * s.OC);
  d_out.poison();
  matmul_forward(ctx, bf16(d_out), bf16(p.d_inp), bf16(p.d_weight),
                 with_bias ? bf16(p.d_bias) : nullptr, s.N, s.C, s.OC, nullptr);
  test::cuda_check(cudaDeviceSynchronize(), "matmul_forward");
  std::vector<float> ref(s.N * s.OC);
  cpu::matmul_forward(ref.data(), p.inp.data(), p.weight.data(),
                      with_bias ? p.bias.data() : nullptr, s.N, s.C, s.OC);
  expect_close(from_bf16(d_out.download()), ref, 1e-2, 2e-2, "out");
}

TEST(CudaMatmul, ForwardMatchesCpuReference) {
  ALIBI_SKIP_WITHOUT_GPU();
  MatmulContext ctx;
  check_forward(ctx, {77, 200, 300}, false, 11);
  check_forward(ctx, {77, 200, 300}, true, 12);
  check_forward(ctx, {1024, 768, 2304}, true, 13);
  check_forward(ctx, {1024, 768, 2304}, false, 14);
}

void check_backward(MatmulContext& ctx, const Shape& s, bool with_bias, uint64_t seed) {
  SCOPED_TRACE(describe(s, with_bias));
  Problem p(s, seed);
  // Parameter gradients start nonzero to test that they accumulate.
  const std::vector<float> dweight0 = random_bf16_values(s.OC * s.C, seed + 4);
  const std::vector<float> dbias0 = random_bf16_values(s.OC, seed + 5);
  DeviceArray<uint16_t> d_dinp(s.N * s.C);
  DeviceArray<float> d_dweight(dweight0.size()), d_dbias(dbias0.size());
  d_dinp.poison();
  d_dweight.upload(dweight0);
  d_dbias.upload(dbias0);
  matmul_backward(ctx, bf16(d_dinp), d_dweight.get(), with_bias ? d_dbias.get() : nullptr,
                  bf16(p.d_dout), bf16(p.d_inp), bf16(p.d_weight), s.N, s.C, s.OC, nullptr);
  test::cuda_check(cudaDeviceSynchronize(), "matmul_backward");

  std::vector<float> dinp(s.N * s.C), dweight = dweight0, dbias = dbias0;
  cpu::matmul_backward(dinp.data(), dweight.data(), dbias.data(), p.dout.data(), p.inp.data(),
                       p.weight.data(), s.N, s.C, s.OC);
  expect_close(from_bf16(d_dinp.download()), dinp, 1e-2, 2e-2, "dinp");
  expect_close(d_dweight.download(), dweight, 1e-4, 1e-4, "dweight");
  expect_close(d_dbias.download(), with_bias ? dbias : dbias0, 1e-4, 1e-4, "dbias");
}

TEST(CudaMatmul, BackwardMatchesCpuReference) {
  ALIBI_SKIP_WITHOUT_GPU();
  MatmulContext ctx;
  check_backward(ctx, {77, 200, 300}, true, 21);
  check_backward(ctx, {77, 200, 300}, false, 22);
  check_backward(ctx, {1024, 768, 2304}, true, 23);
}

// Tuning runs every candidate algorithm on the real buffers: the gradients
// that accumulate (beta = 1) must come out as if only the chosen one ran.
// Shapes no other test uses, so their first call here is the one that tunes.
TEST(CudaMatmul, TunedAlgorithmsLeaveAccumulatedGradientsRight) {
  ALIBI_SKIP_WITHOUT_GPU();
  MatmulContext ctx(/*tune_algorithms=*/true);
  check_backward(ctx, {1000, 256, 776}, true, 24);
  check_backward(ctx, {1000, 256, 776}, true, 25);  // the tuned choice, from the cache
  check_forward(ctx, {1000, 256, 776}, true, 26);
}

TEST(CudaMatmul, BackwardWithoutDinpStillAccumulatesTwice) {
  ALIBI_SKIP_WITHOUT_GPU();
  MatmulContext ctx;
  const Shape s{77, 200, 300};
  Problem p(s, 31);
  DeviceArray<float> d_dweight(s.OC * s.C), d_dbias(s.OC);
  test::cuda_check(cudaMemset(d_dweight.get(), 0, d_dweight.size() * sizeof(float)), "memset");
  test::cuda_check(cudaMemset(d_dbias.get(), 0, d_dbias.size() * sizeof(float)), "memset");
  auto step = [&] {
    matmul_backward(ctx, nullptr, d_dweight.get(), d_dbias.get(), bf16(p.d_dout), bf16(p.d_inp),
                    bf16(p.d_weight), s.N, s.C, s.OC, nullptr);
  };
  step();
  const std::vector<float> once_w = d_dweight.download(), once_b = d_dbias.download();
  step();
  const std::vector<float> twice_w = d_dweight.download(), twice_b = d_dbias.download();
  std::vector<float> doubled_w(once_w), doubled_b(once_b);
  for (float& v : doubled_w) v *= 2;
  for (float& v : doubled_b) v *= 2;
  expect_close(twice_w, doubled_w, 1e-6, 1e-6, "dweight after two steps");
  expect_close(twice_b, doubled_b, 1e-6, 1e-6, "dbias after two steps");
}

// The residual read in the product's epilogue: one bf16 rounding of
// residual + product, against the fp32 sum of the CPU's product and residual.
void check_residual_forward(MatmulContext& ctx, const Shape& s, bool with_bias, uint64_t seed) {
  SCOPED_TRACE(describe(s, with_bias));
  Problem p(s, seed);
  const std::vector<float> residual = random_bf16_values(s.N * s.OC, seed + 7, 4.0);
  DeviceArray<uint16_t> d_residual(residual.size()), d_out(residual.size());
  d_residual.upload(to_bf16(residual));
  d_out.poison();
  matmul_residual_forward(ctx, bf16(d_out), bf16(p.d_inp), bf16(p.d_weight), with_bias ? bf16(p.d_bias) : nullptr,
                          bf16(d_residual), s.N, s.C, s.OC, nullptr);
  test::cuda_check(cudaDeviceSynchronize(), "matmul_residual_forward");
  std::vector<float> ref(residual.size());
  cpu::matmul_forward(ref.data(), p.inp.data(), p.weight.data(), with_bias ? p.bias.data() : nullptr, s.N, s.C,
                      s.OC);
  for (size_t i = 0; i < ref.size(); ++i) ref[i] += residual[i];
  expect_close(from_bf16(d_out.download()), ref, 1e-2, 2e-2, "out");
  EXPECT_EQ(from_bf16(d_residual.download()), residual) << "the residual is read, not written";
}

TEST(CudaMatmul, ResidualForwardAddsTheResidual) {
  ALIBI_SKIP_WITHOUT_GPU();
  MatmulContext ctx;
  check_residual_forward(ctx, {1024, 768, 768}, true, 61);
  check_residual_forward(ctx, {77, 200, 300}, true, 62);
  check_residual_forward(ctx, {77, 200, 300}, false, 63);
}

// The fused GELU epilogues against the CPU's matmul then GELU. The fused
// path (width a multiple of 8: cuBLASLt's epilogues, or on Hopper where the
// context chooses it gemm_sm90) and the unfused fallback (width 300) both run.
void check_gelu_forward(MatmulContext& ctx, const Shape& s, uint64_t seed, bool with_bias = true) {
  SCOPED_TRACE(describe(s, with_bias));
  Problem p(s, seed);
  DeviceArray<uint16_t> d_out(s.N * s.OC), d_pre(s.N * s.OC);
  d_out.poison();
  d_pre.poison();
  matmul_gelu_forward(ctx, bf16(d_out), bf16(d_pre), bf16(p.d_inp), bf16(p.d_weight),
                      with_bias ? bf16(p.d_bias) : nullptr, s.N, s.C, s.OC, nullptr);
  test::cuda_check(cudaDeviceSynchronize(), "matmul_gelu_forward");
  std::vector<float> pre(s.N * s.OC), out(pre.size());
  cpu::matmul_forward(pre.data(), p.inp.data(), p.weight.data(), with_bias ? p.bias.data() : nullptr, s.N, s.C,
                      s.OC);
  cpu::gelu_forward(out.data(), pre.data(), static_cast<int64_t>(pre.size()));
  expect_close(from_bf16(d_pre.download()), pre, 1e-2, 2e-2, "pre");
  expect_close(from_bf16(d_out.download()), out, 1e-2, 2e-2, "out = GELU(pre)");
}

// Every kind of GELU product (GeluProducts); gemm_sm90's fall back to
// cuBLASLt off Hopper.
std::vector<std::unique_ptr<MatmulContext>> gelu_product_contexts() {
  std::vector<std::unique_ptr<MatmulContext>> contexts;
  for (GeluProducts kind : {GeluProducts::Cublaslt, GeluProducts::Sm90, GeluProducts::Sm90Pairs})
    contexts.push_back(std::make_unique<MatmulContext>(false, kMatmulWorkspaceBytes, kind));
  return contexts;
}

const char* gelu_products_name(GeluProducts kind) {
  if (kind == GeluProducts::Cublaslt) return "cuBLASLt";
  return kind == GeluProducts::Sm90 ? "gemm_sm90" : "gemm_sm90, CTA pairs";
}

TEST(CudaMatmul, GeluForwardMatchesMatmulThenGelu) {
  ALIBI_SKIP_WITHOUT_GPU();
  for (const auto& ctx : gelu_product_contexts()) {
    SCOPED_TRACE(gelu_products_name(ctx->gelu_products()));
    check_gelu_forward(*ctx, {1024, 768, 3072}, 41);
    check_gelu_forward(*ctx, {77, 200, 304}, 42);
    check_gelu_forward(*ctx, {77, 200, 300}, 43);  // unfused
    // gemm_sm90: more 128 x 256 tiles than SMs, the last row and column
    // tiles partial (2,056 and 1,000 columns: the last tile's last 32-column
    // strip holds one 8-column piece), K (264, 136) not a multiple of its
    // 64-wide slices, odd counts of row tiles (33, 3: a CTA pair's second
    // tile past the end); with and without the bias.
    check_gelu_forward(*ctx, {4200, 264, 2056}, 44);
    check_gelu_forward(*ctx, {333, 136, 1000}, 45, /*with_bias=*/false);
  }
}

// The layer after the GELU: inp = GELU(pre) is its input, of width C. With
// `dpre_in_inp`, dpre is written over inp, as the model does. dpre_sums
// (the fc layer's bias gradient, unless `without_sums`) against the column
// sums, in double, of dpre as the device stored it.
void check_gelu_backward(MatmulContext& ctx, const Shape& s, uint64_t seed, bool dpre_in_inp = false,
                         bool without_sums = false) {
  SCOPED_TRACE(describe(s, true) + (dpre_in_inp ? ", dpre over inp" : "") + (without_sums ? ", no dpre_sums" : ""));
  Problem p(s, seed);
  const std::vector<float> pre = random_bf16_values(s.N * s.C, seed + 6, 2.0);
  std::vector<float> inp(pre.size());
  cpu::gelu_forward(inp.data(), pre.data(), static_cast<int64_t>(pre.size()));
  for (float& v : inp) v = test::round_bf16(v);
  DeviceArray<uint16_t> d_pre(pre.size()), d_inp(inp.size()), d_dpre(pre.size());
  d_pre.upload(to_bf16(pre));
  d_inp.upload(to_bf16(inp));
  d_dpre.poison();
  const std::vector<float> dweight0 = random_bf16_values(s.OC * s.C, seed + 4);
  const std::vector<float> dbias0 = random_bf16_values(s.OC, seed + 5);
  const std::vector<float> sums0 = random_bf16_values(s.C, seed + 7);
  DeviceArray<float> d_dweight(dweight0.size()), d_dbias(dbias0.size()), d_sums(sums0.size());
  d_dweight.upload(dweight0);
  d_dbias.upload(dbias0);
  d_sums.upload(sums0);
  DeviceArray<uint16_t>& d_out = dpre_in_inp ? d_inp : d_dpre;
  matmul_gelu_backward(ctx, bf16(d_out), bf16(d_pre), d_dweight.get(), d_dbias.get(),
                       without_sums ? nullptr : d_sums.get(), bf16(p.d_dout), bf16(d_inp), bf16(p.d_weight), s.N,
                       s.C, s.OC, nullptr);
  test::cuda_check(cudaDeviceSynchronize(), "matmul_gelu_backward");
  const std::vector<float> dpre_stored = from_bf16(d_out.download());
  std::vector<double> sums(sums0.begin(), sums0.end());
  if (!without_sums)
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t c = 0; c < s.C; ++c) sums[c] += dpre_stored[n * s.C + c];
  expect_close(d_sums.download(), std::vector<float>(sums.begin(), sums.end()), 1e-4, 1e-4, "dpre_sums");

  std::vector<float> dinp(s.N * s.C), dpre(dinp.size()), dweight = dweight0, dbias = dbias0;
  cpu::matmul_backward(dinp.data(), dweight.data(), dbias.data(), p.dout.data(), inp.data(), p.weight.data(), s.N,
                       s.C, s.OC);
  cpu::gelu_backward(dpre.data(), pre.data(), dinp.data(), static_cast<int64_t>(dpre.size()));
  expect_close(dpre_stored, dpre, 1e-2, 2e-2, "dpre");
  expect_close(d_dweight.download(), dweight, 1e-4, 1e-4, "dweight");
  expect_close(d_dbias.download(), dbias, 1e-4, 1e-4, "dbias");
}

TEST(CudaMatmul, GeluBackwardMatchesMatmulBackwardThenGeluBackward) {
  ALIBI_SKIP_WITHOUT_GPU();
  for (const auto& ctx : gelu_product_contexts()) {
    SCOPED_TRACE(gelu_products_name(ctx->gelu_products()));
    check_gelu_backward(*ctx, {1024, 3072, 768}, 51);
    check_gelu_backward(*ctx, {77, 304, 200}, 52);
    check_gelu_backward(*ctx, {77, 300, 200}, 53);  // unfused
    check_gelu_backward(*ctx, {1024, 3072, 768}, 54, /*dpre_in_inp=*/true);
    check_gelu_backward(*ctx, {77, 300, 200}, 55, /*dpre_in_inp=*/true);
    check_gelu_backward(*ctx, {4200, 2056, 264}, 58);  // as the forward's partial tiles
    check_gelu_backward(*ctx, {333, 1000, 136}, 59, /*dpre_in_inp=*/true);
    check_gelu_backward(*ctx, {333, 1000, 136}, 60, false, /*without_sums=*/true);
  }
  // A workspace too small for the transposed weight: the product on the weight as stored.
  MatmulContext small(/*tune_algorithms=*/false, /*workspace_bytes=*/1u << 20, GeluProducts::Sm90Pairs);
  check_gelu_backward(small, {1024, 3072, 768}, 56);
  check_gelu_backward(small, {77, 3072, 768}, 57, /*dpre_in_inp=*/true);
  // Room for the transposed weight (1.09 MB) but not for gemm_sm90's column
  // partials beside it (33 tiles of rows x 2,056 floats): the sums by a pass over dpre.
  for (GeluProducts kind : {GeluProducts::Sm90, GeluProducts::Sm90Pairs}) {
    SCOPED_TRACE(gelu_products_name(kind));
    MatmulContext tight(/*tune_algorithms=*/false, /*workspace_bytes=*/1200u << 10, kind);
    check_gelu_backward(tight, {4200, 2056, 264}, 61);
  }
}

TEST(CudaMatmul, FailureNamesOpAndShape) {
  ALIBI_SKIP_WITHOUT_GPU();
  MatmulContext ctx;
  try {
    matmul_forward(ctx, nullptr, nullptr, nullptr, nullptr, 0, 5, 7, nullptr);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("matmul_forward"), std::string::npos) << msg;
    EXPECT_NE(msg.find("C=5"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace alibi::cuda
