#include "kernels/chunk_sums.cuh"

#include <algorithm>

#include "cuda/cuda_check.cuh"
#include "kernels/common.cuh"

namespace alibi::cuda {
namespace {

// A block is 32 columns x 16 lanes of chunks: thread (x, y) adds chunks y,
// y+16, ... of column x (reads coalesce along x; four loads in flight), then
// thread (x, 0) adds the 16 lane sums in y order. Many short sums instead of
// one thread walking all chunks keep the latency low when C is only a few
// hundred columns and the chunks are many (the one-pass LayerNorm backward
// leaves one per 64 rows: 256 at 16,384 rows).
constexpr int kChunkLanes = 16;

struct Outputs {
  float* out[kMaxChunkSums];
};

// blockIdx.y picks the sum: outs.out[y], from the y-th [chunks, C] partials.
__global__ void add_chunk_sums_kernel(Outputs outs, const float* partials, int64_t chunks, int64_t C,
                                      bool accumulate) {
  __shared__ float lane_sums[kChunkLanes][kWarp];
  float* out = outs.out[blockIdx.y];
  partials += blockIdx.y * chunks * C;
  const int64_t c = int64_t(blockIdx.x) * kWarp + threadIdx.x;
  float s = 0.f;
  if (c < C)
#pragma unroll 4
    for (int64_t k = threadIdx.y; k < chunks; k += kChunkLanes) s += partials[k * C + c];
  lane_sums[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y != 0 || c >= C) return;
  float total = 0.f;
  for (int y = 0; y < kChunkLanes; ++y) total += lane_sums[y][threadIdx.x];
  out[c] = (accumulate ? out[c] : 0.f) + total;
}

}  // namespace

void add_chunk_sums(std::initializer_list<float*> outs, const float* partials, int64_t chunks, int64_t C,
                    cudaStream_t stream, bool accumulate) {
  const Dims dims = {{"chunks", chunks}, {"C", C}, {"sums", int64_t(outs.size())}};
  if (outs.size() < 1 || outs.size() > kMaxChunkSums) throw_cuda_error("add_chunk_sums", dims, "1 to 3 sums");
  if (C <= 0 || (chunks <= 0 && accumulate)) return;
  chunks = std::max<int64_t>(chunks, 0);
  Outputs o{};
  int n = 0;
  for (float* out : outs) o.out[n++] = out;
  const dim3 grid(blocks_for(C, kWarp), static_cast<unsigned>(n));
  add_chunk_sums_kernel<<<grid, dim3(kWarp, kChunkLanes), 0, stream>>>(o, partials, chunks, C, accumulate);
  check_launch("add_chunk_sums", dims);
}

}  // namespace alibi::cuda
