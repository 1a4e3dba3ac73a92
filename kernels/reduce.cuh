// Deterministic reductions on the GPU.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace alibi::cuda {

// Scratch sum_of_squares needs for n elements.
size_t sum_of_squares_workspace_bytes(int64_t n);

// *result (device memory, f32) = sum_i x[i]^2, accumulated in double. The grid
// depends only on n, every block writes its partial sum to the workspace and
// one block adds the partials in a fixed order: the same bits on every run.
// T = float or __nv_bfloat16.
template <typename T>
void sum_of_squares(float* result, const T* x, int64_t n, void* workspace, size_t workspace_bytes,
                    cudaStream_t stream);

}  // namespace alibi::cuda
