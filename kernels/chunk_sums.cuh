// The second pass of the deterministic column reductions (bias and
// LayerNorm parameter gradients): out[c] += sum over k of partials[k][c],
// the chunks always added in the same order. Internal to kernels/*.cu.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace alibi::cuda {

// partials: [chunks, C] fp32, row k holding chunk k's column sums.
void add_chunk_sums(float* out, const float* partials, int64_t chunks, int64_t C, cudaStream_t stream);

// Two such sums in one launch (a launch costs more than these few hundred
// KB): out from partials, out_next from the [chunks, C] right after them.
void add_chunk_sums_pair(float* out, float* out_next, const float* partials, int64_t chunks, int64_t C,
                         cudaStream_t stream);

}  // namespace alibi::cuda
