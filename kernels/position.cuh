// Position methods other than ALiBi (which lives in attention), on bf16
// activations with fp32 math. Semantics are Backend's (backend.h).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace alibi::cuda {

// x[b,t,:] += wpe[t,:] (wpe has at least T rows).
void learned_position_forward(__nv_bfloat16* x, const __nv_bfloat16* wpe, int64_t B, int64_t T,
                              int64_t C, cudaStream_t stream);

// dwpe[t,:] += sum_b dout[b,t,:] for t < T (without `accumulate`, 0 +
// that sum): one thread per (t, c) sums the batches in ascending order, so
// the result is deterministic (and the CPU's order).
void learned_position_backward(float* dwpe, const __nv_bfloat16* dout, int64_t B, int64_t T,
                               int64_t C, cudaStream_t stream, bool accumulate = true);

// x[b,t,2i] += sin(t / 10000^(2i/C)), x[b,t,2i+1] += cos(same); the angle is
// evaluated in double, once per (t, c), as on the CPU.
void sinusoidal_position_forward(__nv_bfloat16* x, int64_t B, int64_t T, int64_t C,
                                 cudaStream_t stream);

// Rotary, rotate-half form, on q and k of qkv [B,T,3,H,D] in place: the pair
// (d, d + D/2) of position t turns by t * base^(-2d/D); backward turns the
// gradients back by the same angles. D must be even.
void rotary_forward(__nv_bfloat16* qkv, int64_t B, int64_t T, int64_t H, int64_t D, float base,
                    cudaStream_t stream);
void rotary_backward(__nv_bfloat16* dqkv, int64_t B, int64_t T, int64_t H, int64_t D, float base,
                     cudaStream_t stream);

}  // namespace alibi::cuda
