#include "kernels/transpose.cuh"

#include "cuda/cuda_check.cuh"
#include "kernels/common.cuh"

namespace alibi::cuda {
namespace {

// A block moves a 32 x 32 tile through shared memory, so that both the reads
// of `in` and the writes of `out` run along rows (coalesced); the tile's
// padding column keeps the column reads free of bank conflicts. 32 x 8
// threads, four rows each.
constexpr int kTile = 32, kRowsPerPass = 8;

__global__ void transpose_kernel(bf16* out, const bf16* in, int64_t rows, int64_t cols) {
  __shared__ bf16 tile[kTile][kTile + 1];
  const int64_t col0 = int64_t(blockIdx.x) * kTile, row0 = int64_t(blockIdx.y) * kTile;
  for (int r = threadIdx.y; r < kTile; r += kRowsPerPass) {
    const int64_t row = row0 + r, col = col0 + threadIdx.x;
    if (row < rows && col < cols) tile[r][threadIdx.x] = in[row * cols + col];
  }
  __syncthreads();
  for (int c = threadIdx.y; c < kTile; c += kRowsPerPass) {  // out's row col0 + c holds in's column
    const int64_t out_row = col0 + c, out_col = row0 + threadIdx.x;
    if (out_row < cols && out_col < rows) out[out_row * rows + out_col] = tile[threadIdx.x][c];
  }
}

}  // namespace

void transpose(bf16* out, const bf16* in, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  const Dims dims = {{"rows", rows}, {"cols", cols}};
  const int64_t row_tiles = (rows + kTile - 1) / kTile, col_tiles = (cols + kTile - 1) / kTile;
  if (rows < 0 || cols < 0 || row_tiles > 65535 || col_tiles > (int64_t{1} << 31) - 1)
    throw_cuda_error("transpose", dims, "shape outside the grid's limits (rows up to 65535 tiles of 32)");
  transpose_kernel<<<dim3(unsigned(col_tiles), unsigned(row_tiles)), dim3(kTile, kRowsPerPass), 0, stream>>>(
      out, in, rows, cols);
  check_launch("transpose", dims);
}

}  // namespace alibi::cuda
