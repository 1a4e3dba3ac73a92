// CUDA fused softmax cross-entropy against the CPU, GPT-2-sized vocabularies.
#include "tests/cuda/cuda_test_util.h"

namespace alibi::cudatest {
namespace {

void check_cross_entropy(int64_t N, int64_t V, bool compute_grad) {
  SCOPED_TRACE("N=" + std::to_string(N) + " V=" + std::to_string(V) + " grad=" + std::to_string(compute_grad));
  Backends be;
  const auto logits = round_bf16(random_values(N * V, 51, 3.f));
  Rng rng(52);
  std::vector<int32_t> targets(static_cast<size_t>(N));
  for (auto& t : targets) t = static_cast<int32_t>(rng.below(V));
  targets[1] = -1;  // a row that is not scored
  const float scale = 1.f / static_cast<float>(N);

  Owned cl = be.to_cpu(logits, {N, V}), ct = be.to_cpu_i32(targets), closs = allocate(*be.cpu, {N}, DType::F32);
  be.cpu->cross_entropy(closs.t, cl.t, ct.t, compute_grad, scale);

  Owned gl = be.to_gpu(logits, {N, V}, DType::BF16), gt = be.to_gpu_i32(targets);
  Owned gloss = allocate(*be.gpu, {N}, DType::F32);
  be.poison(gloss.t);
  be.gpu->cross_entropy(gloss.t, gl.t, gt.t, compute_grad, scale);
  const auto loss = be.download(gloss.t);
  // Losses are fp32 from the same (rounded) logits: only the order of the
  // exp-sum differs.
  EXPECT_TRUE(close(loss, be.download_cpu(closs.t), kF32Tol));
  EXPECT_EQ(loss[1], 0.f);
  const auto grad = be.download(gl.t), want = be.download_cpu(cl.t);
  EXPECT_TRUE(close(grad, want, kBf16Tol));
  if (compute_grad)
    for (int64_t v = 0; v < V; ++v) ASSERT_EQ(grad[V + v], 0.f) << "unscored row must have a zero gradient";
  else
    EXPECT_TRUE(same_bits(grad, logits)) << "logits must be untouched without compute_grad";
}

TEST(CudaCrossEntropy, MatchesCpuForSmallAndGpt2Vocabularies) {
  ALIBI_REQUIRE_GPU();
  for (bool grad : {false, true}) {
    check_cross_entropy(37, 1000, grad);   // vectorized path (V % 8 == 0)
    check_cross_entropy(13, 1001, grad);   // scalar path
    check_cross_entropy(9, 50304, grad);   // GPT-2's padded vocabulary, kept in shared memory
    // Hopper copies kept rows in 16 KB pieces: less than a piece, exactly one, one and a bit.
    check_cross_entropy(6, 24, grad);
    check_cross_entropy(5, 8192, grad);
    check_cross_entropy(7, 8200, grad);
    check_cross_entropy(5, 60000, grad);   // a row too long to keep: read twice
    check_cross_entropy(4, 57001, grad);   // too long to keep, scalar path
  }
}

}  // namespace
}  // namespace alibi::cudatest
