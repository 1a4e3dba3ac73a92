#include "cuda/cuda_check.cuh"
#include "kernels/adamw.cuh"
#include "kernels/common.cuh"

namespace alibi::cuda {
namespace {

constexpr int kThreads = 256;

// Memory bound: 5 fp32 streams (+1 bf16); one element per thread keeps it
// simple and the loads coalesce.
__global__ void adamw_kernel(float* param, bf16* working, const float* grad, float* m, float* v,
                             int64_t n, AdamWHyper hp) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = grad[i] * hp.grad_scale;
  const float mi = hp.beta1 * m[i] + (1.f - hp.beta1) * g;
  const float vi = hp.beta2 * v[i] + (1.f - hp.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  const float m_hat = mi / hp.bias_correction1, v_hat = vi / hp.bias_correction2;
  const float p = param[i];
  const float updated = p - hp.lr * (m_hat / (sqrtf(v_hat) + hp.eps) + hp.weight_decay * p);
  param[i] = updated;
  if (working) working[i] = __float2bfloat16_rn(updated);
}

}  // namespace

void adamw_update(float* param, bf16* working, const float* grad, float* m, float* v, int64_t n,
                  const AdamWHyper& hp, cudaStream_t stream) {
  if (n == 0) return;
  adamw_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream>>>(param, working, grad, m, v, n, hp);
  check_launch("adamw_update", {{"n", n}});
}

}  // namespace alibi::cuda
