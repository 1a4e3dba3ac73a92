// Token embedding on the GPU: bf16 table and activations, fp32 gradient.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace alibi::cuda {

// out[n,:] = wte[tokens[n],:]. A token outside [0, V) yields a NaN row
// (never an out-of-bounds read), so the loss shows it.
void embedding_forward(__nv_bfloat16* out, const int32_t* tokens, const __nv_bfloat16* wte,
                       int64_t N, int64_t V, int64_t C, cudaStream_t stream);

// Scratch embedding_backward needs for N tokens of a V-word vocabulary.
size_t embedding_backward_workspace_bytes(int64_t N, int64_t V);

// dwte[tokens[n],:] += dout[n,:], deterministically: the positions are
// stably sorted by token, then one block per distinct token adds its rows in
// ascending n (the CPU reference's order, so fp32 results match it bitwise
// for equal inputs). Tokens outside [0, V) are skipped.
void embedding_backward(float* dwte, const __nv_bfloat16* dout, const int32_t* tokens, int64_t N,
                        int64_t V, int64_t C, void* workspace, size_t workspace_bytes,
                        cudaStream_t stream);

}  // namespace alibi::cuda
