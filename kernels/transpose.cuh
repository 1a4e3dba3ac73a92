// A bf16 matrix transposed on the GPU: out[cols, rows] = in[rows, cols]^T,
// both row-major and dense. For the products that run faster on a weight's
// other layout (matmul.cu). Internal to kernels/*.cu.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace alibi::cuda {

void transpose(__nv_bfloat16* out, const __nv_bfloat16* in, int64_t rows, int64_t cols, cudaStream_t stream);

}  // namespace alibi::cuda
