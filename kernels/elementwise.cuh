// Elementwise ops on fp32 or bf16 tensors (T = float or __nv_bfloat16).
// Semantics are Backend's (backend.h); math is fp32, results round to T.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace alibi::cuda {

// out = a + b; out may alias a or b.
template <typename T>
void add(T* out, const T* a, const T* b, int64_t n, cudaStream_t stream);

// x *= factor.
template <typename T>
void scale(T* x, int64_t n, float factor, cudaStream_t stream);

// Inverted dropout in place: x *= keep / (1 - p), keep iff
// uniform_at(seed, i) >= p for flat index i: the CPU's mask, bit for bit.
// Backward is the same op applied to the gradient.
template <typename T>
void dropout(T* x, int64_t n, float p, uint64_t seed, cudaStream_t stream);

// dst = src with a dtype change (bf16 rounds to nearest even).
void convert(__nv_bfloat16* dst, const float* src, int64_t n, cudaStream_t stream);
void convert(float* dst, const __nv_bfloat16* src, int64_t n, cudaStream_t stream);

}  // namespace alibi::cuda
