// CUDA AdamW against the CPU: fp32 master, moments and bf16 working copy.
#include "tests/cuda/cuda_test_util.h"
#include "tests/train/nonfinite_check.h"

namespace alibi::cudatest {
namespace {

TEST(CudaAdamW, MatchesCpuAndRefreshesTheBf16WorkingCopy) {
  ALIBI_REQUIRE_GPU();
  Backends be;
  const int64_t n = 10007;
  const auto p = random_values(n, 61), g = random_values(n, 62, 0.1f);
  auto m = random_values(n, 63, 0.01f), v = random_values(n, 64, 0.001f);
  for (float& x : v) x = std::fabs(x);

  Owned cp = be.to_cpu(p, {n}), cg = be.to_cpu(g, {n}), cm = be.to_cpu(m, {n}), cv = be.to_cpu(v, {n});
  Owned gp = be.to_gpu(p, {n}, DType::F32), gg = be.to_gpu(g, {n}, DType::F32), gm = be.to_gpu(m, {n}, DType::F32),
        gv = be.to_gpu(v, {n}, DType::F32);
  Owned work = allocate(*be.gpu, {n}, DType::BF16);
  be.poison(work.t);
  for (int64_t step = 1; step <= 3; ++step) {
    AdamWArgs a;
    a.lr = 1e-3f, a.weight_decay = 0.1f, a.grad_scale = 0.5f, a.step = step;
    a.param = cp.t, a.grad = cg.t, a.m = cm.t, a.v = cv.t;
    be.cpu->adamw_update(a);
    a.param = gp.t, a.grad = gg.t, a.m = gm.t, a.v = gv.t, a.param_working = work.t;
    be.gpu->adamw_update(a);
  }
  // fp32 on both sides; only FMA contraction may differ (an ulp or so).
  const auto param = be.download(gp.t);
  EXPECT_TRUE(close(param, be.download_cpu(cp.t), 1e-6));
  EXPECT_TRUE(close(be.download(gm.t), be.download_cpu(cm.t), 1e-6));
  EXPECT_TRUE(close(be.download(gv.t), be.download_cpu(cv.t), 1e-6));
  EXPECT_TRUE(same_bits(be.download(work.t), round_bf16(param)));
}

// A whole model's tensors in one update: more decay runs than one launch
// takes (256), of odd lengths, against the CPU doing the same runs.
TEST(CudaAdamW, DecayRunsAcrossSeveralLaunchesMatchTheCpu) {
  ALIBI_REQUIRE_GPU();
  Backends be;
  const int64_t n = 20011;
  std::vector<DecayRun> runs;
  for (int64_t end = 0, k = 0; end < n; ++k) {
    end = std::min(n, end + 1 + (k * 37) % 61);
    runs.push_back({end, k % 2 ? 0.f : 0.1f + 0.01f * static_cast<float>(k % 7)});
  }
  ASSERT_GT(runs.size(), 300u);
  const auto p = random_values(n, 71), g = random_values(n, 72, 0.1f);
  auto m = random_values(n, 73, 0.01f), v = random_values(n, 74, 0.001f);
  for (float& x : v) x = std::fabs(x);
  Owned cp = be.to_cpu(p, {n}), cg = be.to_cpu(g, {n}), cm = be.to_cpu(m, {n}), cv = be.to_cpu(v, {n});
  Owned gp = be.to_gpu(p, {n}, DType::F32), gg = be.to_gpu(g, {n}, DType::F32), gm = be.to_gpu(m, {n}, DType::F32),
        gv = be.to_gpu(v, {n}, DType::F32);
  AdamWArgs a;
  a.lr = 1e-2f, a.step = 4, a.decay_runs = runs;
  a.param = cp.t, a.grad = cg.t, a.m = cm.t, a.v = cv.t;
  be.cpu->adamw_update(a);
  a.param = gp.t, a.grad = gg.t, a.m = gm.t, a.v = gv.t;
  be.gpu->adamw_update(a);
  EXPECT_TRUE(close(be.download(gp.t), be.download_cpu(cp.t), 1e-6));
  EXPECT_TRUE(close(be.download(gm.t), be.download_cpu(cm.t), 1e-6));
}

// A forced NaN (and inf) in the GPU's gradients: the step is skipped there too.
TEST(CudaAdamWNonFinite, ANanOrInfGradientSkipsTheUpdate) {
  ALIBI_REQUIRE_GPU();
  auto gpu = make_backend(RuntimeConfig{DeviceChoice::Cuda, 0});
  alibi::testing::expect_nonfinite_gradients_skip_the_update(*gpu);
}

TEST(CudaAdamWNonFinite, TheDeviceNormClipsAndGuardsTheUpdate) {
  ALIBI_REQUIRE_GPU();
  auto gpu = make_backend(RuntimeConfig{DeviceChoice::Cuda, 0});
  alibi::testing::expect_device_norm_clips_and_guards_the_update(*gpu);
}

}  // namespace
}  // namespace alibi::cudatest
