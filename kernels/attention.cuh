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

// The Hopper kernels' measuring switches: what the benchmarks of
// docs/results/attention_sm90.md compared. The defaults are the measured
// best; tests and benchmarks set others explicitly. The CUDA backend reads
// them once, at its creation, from the environment (from_environment;
// docs/environment.md lists the variables); no kernel reads the environment.
struct AttentionTuning {
  bool pingpong = true;              // ALIBI_SM90_PINGPONG=0: the consumers do not take turns
  int forward_stages = 3;            // ALIBI_SM90_STAGES=2|3: stages of the forward's K/V ring
  bool blocks_major = true;          // ALIBI_SM90_ORDER=heads: one head's query blocks after another
  bool forward_persistent = true;    // ALIBI_SM90_FWD_GRID=items: a forward CTA a query block, not an SM taking many
  int forward_consumers_d64 = 0;     // ALIBI_SM90_FWD_CONSUMERS=2|3 at D = 64; 0: 3 from 2048 tokens, else 2
  int backward_heads_per_group = 0;  // ALIBI_SM90_BWD_HEADS_PER_GROUP=N; 0: as many as fit the L2
  bool backward_owned_in_smem = false;  // ALIBI_SM90_BWD_OWNED=smem: D = 64 reads K/V from shared memory
  bool backward_dq_by_columns = false;  // ALIBI_SM90_BWD_DQ=columns: D = 64 splits the fused dQ by columns

  static AttentionTuning from_environment();
};

// Scratch the backward needs (fp32 D_i = dO_i . O_i, the fp32 dQ
// accumulator of the fused Hopper backward, and partial column sums for
// dqkv_sums), in bytes; the caller provides it, allocated once for the
// largest shape.
size_t attention_backward_workspace_bytes(const AttentionDims& dims);

// lse may be null (forward only, nothing saved).
// key_skip_workspace (attention_key_skip_workspace_bytes): the Hopper kernel
// then leaves out the key tiles whose ALiBi bias provably makes every key's
// weight below 2^-40 of its row's total, from bounds on the norms of q and k
// (attention_key_skip.cuh); null, or another kernel, computes every key.
size_t attention_key_skip_workspace_bytes(const AttentionDims& dims);
void attention_forward(__nv_bfloat16* out, float* lse, const __nv_bfloat16* qkv, const float* slopes,
                       const AttentionDims& dims, cudaStream_t stream,
                       void* key_skip_workspace = nullptr, const AttentionTuning& tuning = {});

// Which forward kernel runs (runtime.attention_kernel). automatic: the
// Hopper kernel where it applies (attention_forward_sm90_applies), else the
// portable kernel; sm90 throws where it does not apply.
enum class AttentionForwardKernel { automatic, portable, sm90 };

// True when the current device is compute capability 9.0 and D is 64, 80, 96 or 128.
bool attention_forward_sm90_applies(const AttentionDims& dims);

void attention_forward_using(AttentionForwardKernel kernel, __nv_bfloat16* out, float* lse,
                             const __nv_bfloat16* qkv, const float* slopes,
                             const AttentionDims& dims, cudaStream_t stream,
                             void* key_skip_workspace = nullptr, const AttentionTuning& tuning = {});

// Which backward kernels run:
//  - sm90: the Hopper backward with dQ summed by fp32 reductions in the L2,
//    from the dK/dV kernel (the last bits of dQ vary from run to run);
//  - sm90_deterministic: the Hopper dK/dV kernel and a separate dQ kernel
//    (bitwise reproducible; recomputes S and dP: docs/results/attention.md
//    gives the cost);
//  - portable: mma.sync kernels for sm_80+ and every head dim (deterministic);
//  - automatic: attention_backward_choice(dims, deterministic = false).
// runtime.attention_backward picks among them (with runtime.deterministic);
// the sm90 ones throw where they do not apply. Same workspace and semantics for all.
enum class AttentionBackwardKernel { automatic, portable, sm90, sm90_deterministic };

// True when the current device is compute capability 9.0 and D is 64, 80, 96 or 128.
bool attention_backward_sm90_applies(const AttentionDims& dims);

// The backward attention_backward runs: portable where the Hopper backward
// does not apply; else sm90_deterministic when asked for, or where it is the
// faster of the two (128-column tiles, T <= 1024); else sm90.
AttentionBackwardKernel attention_backward_choice(const AttentionDims& dims, bool deterministic);

// dqkv is overwritten. deterministic: bitwise reproducible.
void attention_backward(__nv_bfloat16* dqkv, const __nv_bfloat16* dout, const __nv_bfloat16* qkv,
                        const __nv_bfloat16* out, const float* lse, const float* slopes,
                        const AttentionDims& dims, bool deterministic, void* workspace,
                        cudaStream_t stream, const AttentionTuning& tuning = {});

// kernel automatic: as attention_backward with deterministic = false.
// dqkv_sums (optional, [3 * H * D] f32): += the column sums of dqkv, which
// the attention's own structure gives without a pass over dqkv: dq's column
// sums for q; exactly 0 for k (the softmax ignores a shift that all keys of
// a row share); dout's column sums for v (each row of attention weights
// sums to 1). Without `accumulate` they are written (k's as 0). Taken from
// what the Hopper backward's row statistics and dQ conversion read and
// write anyway, else by passes over dout and dq.
void attention_backward_using(AttentionBackwardKernel kernel, __nv_bfloat16* dqkv,
                              const __nv_bfloat16* dout, const __nv_bfloat16* qkv,
                              const __nv_bfloat16* out, const float* lse, const float* slopes,
                              const AttentionDims& dims, void* workspace, cudaStream_t stream,
                              const AttentionTuning& tuning = {}, float* dqkv_sums = nullptr,
                              bool accumulate = true);

}  // namespace alibi::cuda
