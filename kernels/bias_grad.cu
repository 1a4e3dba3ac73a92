#include "kernels/bias_grad.cuh"

#include <algorithm>

#include "cuda/cuda_check.cuh"
#include "kernels/chunk_sums.cuh"
#include "kernels/common.cuh"
#include "kernels/map.cuh"

namespace alibi::cuda {
namespace {

// A block is 8 warps over one tile of columns; each warp takes every 8th row
// of the block's chunk, each lane kVec adjacent columns (one 16-byte load per
// row with kVec = 8). A chunk of 128 rows gives the 124M model's N = 16384
// rows 128 chunks: hundreds of blocks even for OC = 768.
constexpr int kWarps = 8;
constexpr int64_t kChunkRows = 128;

template <int kVec>
__global__ void __launch_bounds__(kWarps * kWarp)
    bias_grad_partials_kernel(float* partials, const bf16* dout, int64_t N, int64_t OC, int64_t ld,
                              int64_t chunk_rows) {
  constexpr int kTile = kWarp * kVec;
  __shared__ float sums[kWarps][kTile];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int64_t tile_col = int64_t(blockIdx.x) * kTile;
  const int64_t col = tile_col + lane * kVec;  // kVec > 1 needs OC % kVec == 0
  const int64_t row_end = min(N, (int64_t(blockIdx.y) + 1) * chunk_rows);
  float acc[kVec] = {};
  if (col < OC) {
    for (int64_t n = int64_t(blockIdx.y) * chunk_rows + warp; n < row_end; n += kWarps) {
      const Pack<bf16, kVec> p = *reinterpret_cast<const Pack<bf16, kVec>*>(dout + n * ld + col);
#pragma unroll
      for (int k = 0; k < kVec; ++k) acc[k] += to_f32(p.v[k]);
    }
  }
#pragma unroll
  for (int k = 0; k < kVec; ++k) sums[warp][lane * kVec + k] = acc[k];
  __syncthreads();
  for (int t = threadIdx.x; t < kTile; t += blockDim.x) {
    if (tile_col + t >= OC) break;
    float s = 0.f;
    for (int w = 0; w < kWarps; ++w) s += sums[w][t];
    partials[int64_t(blockIdx.y) * OC + tile_col + t] = s;
  }
}

template <int kVec>
void launch_partials(float* partials, const bf16* dout, int64_t N, int64_t OC, int64_t ld, int64_t chunks,
                     int64_t chunk_rows, cudaStream_t stream) {
  const dim3 grid(blocks_for(OC, kWarp * kVec), static_cast<unsigned>(chunks));
  bias_grad_partials_kernel<kVec><<<grid, kWarps * kWarp, 0, stream>>>(partials, dout, N, OC, ld, chunk_rows);
}

}  // namespace

void bias_grad(float* dbias, const bf16* dout, int64_t N, int64_t OC, void* workspace, size_t workspace_bytes,
               cudaStream_t stream, bool accumulate) {
  bias_grad_strided(dbias, dout, N, OC, OC, workspace, workspace_bytes, stream, accumulate);
}

void bias_grad_strided(float* dbias, const bf16* dout, int64_t N, int64_t OC, int64_t ld, void* workspace,
                       size_t workspace_bytes, cudaStream_t stream, bool accumulate) {
  const Dims dims = {{"N", N}, {"OC", OC}, {"ld", ld}};
  if (ld < OC) throw_cuda_error("bias_grad", dims, "rows overlap (ld < OC)");
  if (N <= 0 || OC <= 0) return add_chunk_sums({dbias}, nullptr, 0, OC, stream, accumulate);  // no rows: sums of 0
  const int64_t max_chunks = static_cast<int64_t>(workspace_bytes / (sizeof(float) * OC));
  if (max_chunks < 1) throw_cuda_error("bias_grad", dims, "workspace too small");
  const int64_t chunks = std::min(max_chunks, (N + kChunkRows - 1) / kChunkRows);
  const int64_t chunk_rows = (N + chunks - 1) / chunks;
  float* partials = static_cast<float*>(workspace);
  if (OC % 8 == 0 && ld % 8 == 0 && aligned16(dout))
    launch_partials<8>(partials, dout, N, OC, ld, chunks, chunk_rows, stream);
  else
    launch_partials<1>(partials, dout, N, OC, ld, chunks, chunk_rows, stream);
  check_launch("bias_grad (partials)", dims);
  add_chunk_sums({dbias}, partials, chunks, OC, stream, accumulate);
}

}  // namespace alibi::cuda
