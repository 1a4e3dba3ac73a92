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

// Scratch the backward needs (fp32 D_i = dO_i . O_i, and the fp32 dQ
// accumulator of the fused Hopper backward), in bytes; the caller provides
// it, allocated once for the largest shape.
size_t attention_backward_workspace_bytes(const AttentionDims& dims);

// lse may be null (forward only, nothing saved).
// key_skip_workspace (attention_key_skip_workspace_bytes): the Hopper kernel
// then leaves out the key tiles whose ALiBi bias provably makes every key's
// weight below 2^-40 of its row's total, from bounds on the norms of q and k
// (attention_key_skip.cuh); null, or another kernel, computes every key.
size_t attention_key_skip_workspace_bytes(const AttentionDims& dims);
void attention_forward(__nv_bfloat16* out, float* lse, const __nv_bfloat16* qkv, const float* slopes,
                       const AttentionDims& dims, cudaStream_t stream,
                       void* key_skip_workspace = nullptr);

// Which forward kernel runs. automatic: the Hopper kernel where it applies
// (attention_forward_sm90_applies), unless the environment variable
// ALIBI_ATTENTION_KERNEL is "portable"; else the portable kernel. The
// explicit choices are for tests and benchmarks; sm90 throws where it does
// not apply.
enum class AttentionForwardKernel { automatic, portable, sm90 };

// True when the current device is compute capability 9.0 and D is 64, 80, 96 or 128.
bool attention_forward_sm90_applies(const AttentionDims& dims);

void attention_forward_using(AttentionForwardKernel kernel, __nv_bfloat16* out, float* lse,
                             const __nv_bfloat16* qkv, const float* slopes,
                             const AttentionDims& dims, cudaStream_t stream,
                             void* key_skip_workspace = nullptr);

// Which backward kernels run:
//  - sm90: the Hopper backward with dQ summed by fp32 reductions in the L2,
//    from the dK/dV kernel (the last bits of dQ vary from run to run);
//  - sm90_deterministic: the Hopper dK/dV kernel and a separate dQ kernel
//    (bitwise reproducible; recomputes S and dP: docs/results/attention.md
//    gives the cost);
//  - portable: mma.sync kernels for sm_80+ and every head dim (deterministic);
//  - automatic: attention_backward_choice(dims, deterministic = false).
// The explicit choices are for tests and benchmarks; the sm90 ones throw where
// they do not apply. Same workspace and semantics for all.
enum class AttentionBackwardKernel { automatic, portable, sm90, sm90_deterministic };

// True when the current device is compute capability 9.0 and D is 64, 80, 96 or 128.
bool attention_backward_sm90_applies(const AttentionDims& dims);

// The backward attention_backward runs: portable where the Hopper backward
// does not apply or the environment variable ALIBI_ATTENTION_BACKWARD is
// "portable"; else sm90_deterministic when asked for, or where it is the
// faster of the two (D = 128, T <= 1024); else sm90.
AttentionBackwardKernel attention_backward_choice(const AttentionDims& dims, bool deterministic);

// dqkv is overwritten. deterministic: bitwise reproducible.
void attention_backward(__nv_bfloat16* dqkv, const __nv_bfloat16* dout, const __nv_bfloat16* qkv,
                        const __nv_bfloat16* out, const float* lse, const float* slopes,
                        const AttentionDims& dims, bool deterministic, void* workspace,
                        cudaStream_t stream);

// kernel automatic: as attention_backward with deterministic = false.
void attention_backward_using(AttentionBackwardKernel kernel, __nv_bfloat16* dqkv,
                              const __nv_bfloat16* dout, const __nv_bfloat16* qkv,
                              const __nv_bfloat16* out, const float* lse, const float* slopes,
                              const AttentionDims& dims, void* workspace, cudaStream_t stream);

}  // namespace alibi::cuda
