// Causal attention with a per-head linear bias on the GPU, in O(T) memory:
// no T x T tensor exists. Semantics are Backend::attention_* (backend.h):
//   s_ij = (q_i . k_j) / sqrt(D) - slopes[h] * (i - j),  j <= i
// qkv is [B, T, 3, H, D] bf16, out and dout [B, T, H*D] bf16, lse [B, H, T] fp32.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace alibi::cuda {

struct AttentionDims {
  int64_t B = 0, T = 0, H = 0, D = 0;
};

// Scratch the backward needs (fp32 D_i = dO_i . O_i and dQ accumulators),
// in bytes; the caller provides it, allocated once for the largest shape.
size_t attention_backward_workspace_bytes(const AttentionDims& dims);

// lse may be null (forward only, nothing saved).
void attention_forward(__nv_bfloat16* out, float* lse, const __nv_bfloat16* qkv, const float* slopes,
                       const AttentionDims& dims, cudaStream_t stream);

// Which forward kernel runs. automatic: the Hopper kernel where it applies
// (attention_forward_sm90_applies), unless the environment variable
// ALIBI_ATTENTION_KERNEL is "portable"; else the portable kernel. The
// explicit choices are for tests and benchmarks; sm90 throws where it does
// not apply.
enum class AttentionForwardKernel { automatic, portable, sm90 };

// True when the current device is compute capability 9.0 and D is 64 or 128.
bool attention_forward_sm90_applies(const AttentionDims& dims);

void attention_forward_using(AttentionForwardKernel kernel, __nv_bfloat16* out, float* lse,
                             const __nv_bfloat16* qkv, const float* slopes,
                             const AttentionDims& dims, cudaStream_t stream);

// dqkv is overwritten. Deterministic: no floating-point atomics. Runs
// attention_backward_using(AttentionBackwardKernel::automatic, ...).
void attention_backward(__nv_bfloat16* dqkv, const __nv_bfloat16* dout, const __nv_bfloat16* qkv,
                        const __nv_bfloat16* out, const float* lse, const float* slopes,
                        const AttentionDims& dims, void* workspace, cudaStream_t stream);


// Which backward kernels run. automatic: the portable backward, unless the
// environment variable ALIBI_ATTENTION_BACKWARD is "sm90" and the Hopper
// backward applies (attention_backward_sm90_applies); the Hopper backward
// has not yet run on a GPU, so it is opt-in. The explicit choices are for
// tests and benchmarks; sm90 throws where it does not apply. Same workspace
// (attention_backward_workspace_bytes) and semantics for all.
enum class AttentionBackwardKernel { automatic, portable, sm90 };

// True when the current device is compute capability 9.0 and D is 64 or 128.
bool attention_backward_sm90_applies(const AttentionDims& dims);

void attention_backward_using(AttentionBackwardKernel kernel, __nv_bfloat16* dqkv,
                              const __nv_bfloat16* dout, const __nv_bfloat16* qkv,
                              const __nv_bfloat16* out, const float* lse, const float* slopes,
                              const AttentionDims& dims, void* workspace, cudaStream_t stream);

}  // namespace alibi::cuda
