#include "backend/grad_clip.h"
#include "cuda/cuda_check.cuh"
#include "kernels/adamw.cuh"
#include "kernels/common.cuh"

#include <algorithm>

namespace alibi::cuda {
namespace {

constexpr int kThreads = 256;

// The ranges of one launch travel as a kernel parameter (no device table to
// upload and keep): up to kRangesPerLaunch of them, 3 KiB of the 4 KiB a
// kernel's parameters may take.
constexpr int kRangesPerLaunch = 256;
struct LaunchRanges {
  int64_t end[kRangesPerLaunch];  // relative to the launch's first element
  float weight_decay[kRangesPerLaunch];
  int count;
};

// The first range ending above i. Neighbouring threads almost always land in
// the same range, so the lookups stay uniform across a warp.
__device__ __forceinline__ float decay_at(const LaunchRanges& r, int64_t i) {
  int lo = 0, hi = r.count - 1;
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (r.end[mid] > i) hi = mid;
    else lo = mid + 1;
  }
  return r.weight_decay[lo];
}

// Memory bound: 5 fp32 streams (+1 bf16); one element per thread keeps it
// simple and the loads coalesce.
__global__ void adamw_kernel(float* param, bf16* working, const float* grad, float* m, float* v,
                             int64_t n, AdamWHyper hp, const __grid_constant__ LaunchRanges ranges) {
  float grad_scale = hp.grad_scale;
  if (!guarded_grad_scale(hp.grad_norm_sq, hp.max_grad_norm, &grad_scale)) return;  // a diverging step
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = grad[i] * grad_scale;
  const float mi = hp.beta1 * m[i] + (1.f - hp.beta1) * g;
  const float vi = hp.beta2 * v[i] + (1.f - hp.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  const float m_hat = mi / hp.bias_correction1, v_hat = vi / hp.bias_correction2;
  const float p = param[i];
  const float updated = p - hp.lr * (m_hat / (sqrtf(v_hat) + hp.eps) + decay_at(ranges, i) * p);
  param[i] = updated;
  if (working) working[i] = __float2bfloat16_rn(updated);
}

}  // namespace

void adamw_update(float* param, bf16* working, const float* grad, float* m, float* v, int64_t n,
                  const AdamWHyper& hp, const DecayRun* runs, int64_t run_count, cudaStream_t stream) {
  if (n == 0) return;
  if (run_count < 1 || runs[run_count - 1].end != n)
    throw_cuda_error("adamw_update", {{"n", n}, {"runs", run_count}}, "decay runs must end at n");
  int64_t begin = 0;  // first element of this launch
  for (int64_t first = 0; first < run_count; first += kRangesPerLaunch) {
    LaunchRanges launch{};
    launch.count = static_cast<int>(std::min<int64_t>(kRangesPerLaunch, run_count - first));
    for (int k = 0; k < launch.count; ++k) {
      launch.end[k] = runs[first + k].end - begin;
      launch.weight_decay[k] = runs[first + k].weight_decay;
    }
    const int64_t count = launch.end[launch.count - 1];
    if (count > 0) {
      adamw_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(
          param + begin, working ? working + begin : nullptr, grad + begin, m + begin, v + begin, count, hp, launch);
      check_launch("adamw_update", {{"n", count}});
    }
    begin += count;
  }
}

}  // namespace alibi::cuda
