// The second pass of the deterministic column reductions (bias and
// LayerNorm parameter gradients): out[c] += sum over k of partials[k][c],
// the chunks always added in the same order. Internal to kernels/*.cu.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>

namespace alibi::cuda {

// Up to this many sums in one launch (a launch costs more than the few
// hundred KB each reads).
constexpr int kMaxChunkSums = 3;

// For each out[r] (r-th of `outs`, at most kMaxChunkSums): out[r][c] +=
// sum over k of partials[r][k][c], where the [chunks, C] fp32 partials of
// the sums lie one after another from `partials`, row k holding chunk k's
// column sums. Without `accumulate`, out[r][c] = 0 + that sum (the same bits
// as adding to zeros; zeros where there are no chunks).
void add_chunk_sums(std::initializer_list<float*> outs, const float* partials, int64_t chunks, int64_t C,
                    cudaStream_t stream, bool accumulate = true);

}  // namespace alibi::cuda
