// AdamW on the GPU: fp32 master weights and moments, fp32 gradients; the bf16
// working copy the ops read is written in the same pass.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/decay_run.h"

namespace alibi::cuda {

struct AdamWHyper {
  float lr, beta1, beta2, eps, grad_scale;  // weight decay: by DecayRun
  // 1 - beta^step, computed on the host in double (the CPU's values).
  float bias_correction1, bias_correction2;
  // Optional (null: neither): the squared global gradient norm in device
  // memory, read by every thread: not finite, no element is written; else
  // the gradient is also scaled by grad_clip_scale(*grad_norm_sq, max_grad_norm).
  const float* grad_norm_sq;
  float max_grad_norm;
};

// g = grad * grad_scale; m, v updated; param -= lr * (m_hat / (sqrt(v_hat) + eps)
// + weight_decay * param); working (may be null) = bf16(param). The decay
// comes from `runs`: element i takes the decay of the first run whose end is
// above i (ends ascending, the last at n), so a whole model's parameters,
// tensor by tensor, take one launch per few hundred runs.
void adamw_update(float* param, __nv_bfloat16* working, const float* grad, float* m, float* v,
                  int64_t n, const AdamWHyper& hp, const DecayRun* runs, int64_t run_count,
                  cudaStream_t stream);

}  // namespace alibi::cuda
