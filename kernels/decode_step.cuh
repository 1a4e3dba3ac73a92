// A whole decode step (one new token a row, a few rows) in one persistent
// kernel: a block on every SM walks the model's layers phase by phase
// (LN1 + qkv, attention over the KV cache, out-projection + residual, LN2 +
// fc + GELU, the MLP's output + residual, then LNf + the LM head and the
// greedy choice), the blocks meeting at a grid barrier between phases. Each
// block's share of the weights streams into shared memory through a ring of
// bulk copies that runs ahead of the phases, so the weights of the next
// phase are on their way while the blocks wait at a barrier: a batch-1 step
// costs the weights' bytes and ~5 barriers a layer instead of ~5 launches a
// layer, each with its own memory round trips.
//
// The arithmetic is the op-by-op step's (Model::cached_forward_ops on the
// same backend): bf16 where that step stores bf16 (x, LayerNorm outputs, q,
// k, v, the attention output, GELU's input and output, the logits), fp32
// sums. Hopper (sm_90) only: other GPUs take the op-by-op step.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace alibi::cuda {

constexpr int kDecodeStepMaxLayers = 128;
constexpr int kDecodeStepMaxRows = 4;

struct DecodeStepLayer {
  const __nv_bfloat16 *ln1_weight, *ln1_bias, *qkv_weight, *qkv_bias, *proj_weight, *proj_bias;
  const __nv_bfloat16 *ln2_weight, *ln2_bias, *fc_weight, *fc_bias, *out_weight, *out_bias;
  __nv_bfloat16 *k_cache, *v_cache;  // [B, H, L, D]: the step's rows of this layer
};

struct DecodeStepModel {
  int64_t B, C, H, D, F, V, L, n_layer;
  float eps;
  const __nv_bfloat16* wte;                                  // [V, C], embedding and LM head
  const __nv_bfloat16 *embed_ln_weight, *embed_ln_bias;      // null without an embedding LayerNorm
  const __nv_bfloat16 *lnf_weight, *lnf_bias;
  const float* slopes;     // [H]
  const int32_t* lengths;  // [B]: each row's token goes to position lengths[b] - 1
  int32_t* tokens;         // [B]: the step's tokens; with greedy_limit > 0, each row's choice written back
  __nv_bfloat16* logits;   // [B, V]
  int64_t greedy_limit;    // 0: logits only; else argmax over the first greedy_limit (kernels/argmax.cuh's rule)
  DecodeStepLayer layers[kDecodeStepMaxLayers];
};

// Whether the fused step runs this model on this GPU (sm_90, the shapes and
// alignment it was written for, its shared memory fits); when not, the
// caller runs the step op by op.
bool decode_step_suits(const DecodeStepModel& m);

// Device workspace of a step; it must be zero before the first step (the
// step leaves its counters at zero again).
size_t decode_step_workspace_bytes(const DecodeStepModel& m);

void decode_step(const DecodeStepModel& m, void* workspace, size_t workspace_bytes, cudaStream_t stream);

}  // namespace alibi::cuda
