// LayerNorm over the last dim on the GPU: bf16 activations and weights, fp32
// statistics and parameter gradients. Semantics are Backend's (backend.h).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace alibi::cuda {

// out = (inp - mean) * rstd * weight + bias; mean, rstd [N] fp32 (two-pass
// variance, eps inside the sqrt).
void layernorm_forward(__nv_bfloat16* out, float* mean, float* rstd, const __nv_bfloat16* inp,
                       const __nv_bfloat16* weight, const __nv_bfloat16* bias, int64_t N,
                       int64_t C, float eps, cudaStream_t stream);

// Scratch layernorm_backward needs for its per-chunk partial sums.
size_t layernorm_backward_workspace_bytes(int64_t N, int64_t C);

// dinp = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dout * weight
// (overwritten, may alias dout; or with add_to_dinp accumulated, no alias). dweight += sum_n dout * xhat and
// dbias += sum_n dout, deterministically: fixed chunks of rows write partial
// sums to the workspace, then a second kernel adds the chunks in order.
// dinp_sums (optional, [C]) += sum_n dinp as stored, the same way. Without
// `accumulate`, the three sums are written instead (add_chunk_sums).
void layernorm_backward(__nv_bfloat16* dinp, float* dweight, float* dbias,
                        const __nv_bfloat16* dout, const __nv_bfloat16* inp,
                        const __nv_bfloat16* weight, const float* mean, const float* rstd,
                        int64_t N, int64_t C, void* workspace, size_t workspace_bytes,
                        cudaStream_t stream, bool add_to_dinp = false, float* dinp_sums = nullptr,
                        bool accumulate = true);

}  // namespace alibi::cuda
