// CUDA token embedding against the CPU; the backward is deterministic.
#include "tests/cuda/cuda_test_util.h"

namespace alibi::cudatest {
namespace {

// Half the tokens come from a few ids, so the backward sums long runs.
std::vector<int32_t> skewed_tokens(int64_t N, int64_t V, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> t(static_cast<size_t>(N));
  for (auto& x : t) x = static_cast<int32_t>(rng.uniform() < 0.5 ? rng.below(7) : rng.below(V));
  return t;
}

void check_embedding(int64_t N, int64_t V, int64_t C) {
  Backends be;
  const auto wte = round_bf16(random_values(V * C, 21));
  const auto dout = round_bf16(random_values(N * C, 22));
  const auto dwte0 = random_values(V * C, 23);  // backward accumulates into this
  const auto tokens = skewed_tokens(N, V, 24);

  Owned cw = be.to_cpu(wte, {V, C}), ct = be.to_cpu_i32(tokens), cout = allocate(*be.cpu, {N, C}, DType::F32);
  Owned cdw = be.to_cpu(dwte0, {V, C}), cdout = be.to_cpu(dout, {N, C});
  be.cpu->embedding_forward(cout.t, ct.t, cw.t);
  be.cpu->embedding_backward(cdw.t, cdout.t, ct.t);

  Owned gw = be.to_gpu(wte, {V, C}, DType::BF16), gt = be.to_gpu_i32(tokens);
  Owned gout = allocate(*be.gpu, {N, C}, DType::BF16);
  be.poison(gout.t);
  be.gpu->embedding_forward(gout.t, gt.t, gw.t);
  EXPECT_TRUE(same_bits(be.download(gout.t), be.download_cpu(cout.t))) << "a gather is exact";

  Owned gdout = be.to_gpu(dout, {N, C}, DType::BF16);
  std::vector<float> first;
  for (int run = 0; run < 2; ++run) {
    Owned gdw = be.to_gpu(dwte0, {V, C}, DType::F32);
    be.gpu->embedding_backward(gdw.t, gdout.t, gt.t);
    const auto got = be.download(gdw.t);
    // Same fp32 additions in the same (ascending position) order as the CPU.
    EXPECT_TRUE(close(got, be.download_cpu(cdw.t), 1e-6));
    if (run == 0) first = got;
    else EXPECT_TRUE(same_bits(got, first)) << "backward is not deterministic";
  }
}

TEST(CudaEmbedding, MatchesCpuWithOddSizes) {
  ALIBI_REQUIRE_GPU();
  check_embedding(/*N=*/1031, /*V=*/1000, /*C=*/80);
  check_embedding(/*N=*/517, /*V=*/50304, /*C=*/200);
  check_embedding(/*N=*/33, /*V=*/100, /*C=*/36);  // C not a multiple of 8: one channel a thread
}

TEST(CudaEmbedding, OutOfRangeTokenGivesNanRowNotACrash) {
  ALIBI_REQUIRE_GPU();
  Backends be;
  Owned gw = be.to_gpu(random_values(10 * 8, 1), {10, 8}, DType::BF16), gt = be.to_gpu_i32({3, 10, -1});
  Owned gout = allocate(*be.gpu, {3, 8}, DType::BF16);
  be.gpu->embedding_forward(gout.t, gt.t, gw.t);
  const auto got = be.download(gout.t);
  EXPECT_TRUE(std::isfinite(got[0]));
  EXPECT_TRUE(std::isnan(got[8]));
  EXPECT_TRUE(std::isnan(got[16]));
}

}  // namespace
}  // namespace alibi::cudatest
