// TMA tensor maps over the attention tensors (tensor_map.cu), shared by the
// Hopper forward and backward kernels.
#pragma once

#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace alibi::cuda {

// A [rows, parts, D] bf16 tensor (row stride parts * D elements) seen as the
// 3-D tensor {D, parts, rows}, innermost first, in boxes {64, 1, box_rows}
// with the 128-byte swizzle (wgmma.cuh). qkv: parts = 3H, rows = B*T; dout:
// parts = H. Rows past the end read as zeros.
cudaError_t encode_rows_map(CUtensorMap* map, const __nv_bfloat16* base, int64_t D, int64_t parts,
                            int64_t rows, int box_rows);

// A row-major [rows, cols] bf16 matrix (cols % 8 == 0: 16-byte rows) as the
// 2-D tensor {cols, rows}, in boxes {64, box_rows} with the 128-byte swizzle:
// a matrix product's K-major operand, 64 of K at a time. Columns and rows
// past the end read as zeros.
cudaError_t encode_matrix_map(CUtensorMap* map, const __nv_bfloat16* base, int64_t cols, int64_t rows, int box_rows);

}  // namespace alibi::cuda
