// GELU, tanh approximation (GPT-2), on fp32 or bf16 tensors; fp32 math.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace alibi::cuda {

template <typename T>
void gelu_forward(T* out, const T* inp, int64_t n, cudaStream_t stream);

// dinp = dout * gelu'(inp); dinp may alias dout.
template <typename T>
void gelu_backward(T* dinp, const T* inp, const T* dout, int64_t n, cudaStream_t stream);

}  // namespace alibi::cuda
