// The bias gradient of a linear layer on the GPU: dbias[c] += sum_n dout[n, c].
// Internal to matmul.cu (Backend::matmul_backward), in a file of its own
// because it is a reduction, not a matrix product.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace alibi::cuda {

// dbias[OC] (fp32) += column sums of dout[N, OC] (bf16); without
// `accumulate`, dbias = the sums (add_chunk_sums). Two passes: blocks
// of (column tile, row chunk) write partial sums into `workspace`, then
// add_chunk_sums adds the chunks in a fixed order. The chunking depends
// only on (N, OC, workspace_bytes), so the bits never depend on timing.
// Any workspace of at least OC floats works; more lets more blocks run.
void bias_grad(float* dbias, const __nv_bfloat16* dout, int64_t N, int64_t OC, void* workspace,
               size_t workspace_bytes, cudaStream_t stream, bool accumulate = true);

// The same over OC columns of rows ld elements apart (ld >= OC): a part of
// each row, e.g. the q third of a [N, 3C] qkv gradient.
void bias_grad_strided(float* dbias, const __nv_bfloat16* dout, int64_t N, int64_t OC, int64_t ld, void* workspace,
                       size_t workspace_bytes, cudaStream_t stream, bool accumulate = true);

}  // namespace alibi::cuda
