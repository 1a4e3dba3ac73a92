#include "cuda/cuda_check.cuh"
#include "kernels/bias_grad.cuh"
#include "kernels/chunk_sums.cuh"
#include "kernels/common.cuh"
#include "kernels/layernorm.cuh"
#include "kernels/map.cuh"

#include <initializer_list>

namespace alibi::cuda {
namespace {

// Forward and input-gradient kernels: one warp per row. Rows are a few
// hundred to a few thousand channels, so a warp keeps every lane busy and
// needs no shared memory. Lanes take V consecutive channels at a time (V = 8:
// one 16-byte load of bf16), striding the row, so reads coalesce; V = 1 is
// the path for widths not a multiple of 8 or unaligned views.
constexpr int kRowsPerBlock = 8;
constexpr int kRowThreads = kRowsPerBlock * kWarp;
constexpr int kVec = 8;

template <int V>
__device__ __forceinline__ void load(float (&out)[V], const bf16* p) {
  const Pack<bf16, V> pack = *reinterpret_cast<const Pack<bf16, V>*>(p);
#pragma unroll
  for (int k = 0; k < V; ++k) out[k] = __bfloat162float(pack.v[k]);
}

template <int V>
__device__ __forceinline__ void store(bf16* p, const float (&in)[V]) {
  Pack<bf16, V> pack;
#pragma unroll
  for (int k = 0; k < V; ++k) pack.v[k] = __float2bfloat16_rn(in[k]);
  *reinterpret_cast<Pack<bf16, V>*>(p) = pack;
}

// One pack of the input gradient, rstd * (g - mean(g) - xhat * mean(g * xhat))
// with g = dout * weight, added to what dx holds when add_to_dinp, stored to
// dx. The caller's lane has read this pack of dout already: dinp may alias it.
// Returns in `stored` the values as stored (bf16), for sums over dinp.
template <int V>
__device__ __forceinline__ void store_input_grad(bf16* dx, const float (&x)[V], const float (&dy)[V],
                                                 const float (&w)[V], float m, float s, float mean_g,
                                                 float mean_g_xhat, bool add_to_dinp, float (&stored)[V]) {
  float grad[V];
#pragma unroll
  for (int k = 0; k < V; ++k) grad[k] = s * (dy[k] * w[k] - mean_g - (x[k] - m) * s * mean_g_xhat);
  if (add_to_dinp) {
    float prior[V];
    load(prior, dx);
#pragma unroll
    for (int k = 0; k < V; ++k) grad[k] += prior[k];
  }
  store(dx, grad);
#pragma unroll
  for (int k = 0; k < V; ++k) stored[k] = __bfloat162float(__float2bfloat16_rn(grad[k]));
}

template <int V>
__global__ void layernorm_forward_kernel(bf16* out, float* mean, float* rstd, const bf16* inp,
                               const bf16* weight, const bf16* bias, int64_t N, int64_t C,
                               float eps) {
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (n >= N) return;  // whole warps exit together: the shuffles stay full
  const bf16* x = inp + n * C;
  // Two passes over the row (the second from L1/L2): the variance of
  // (x - mean) does not cancel catastrophically, as in the CPU reference.
  float sum = 0.f;
  for (int64_t c = lane * V; c < C; c += kWarp * V) {
    float xv[V];
    load(xv, x + c);
#pragma unroll
    for (int k = 0; k < V; ++k) sum += xv[k];
  }
  const float m = warp_sum(sum) / static_cast<float>(C);
  float sq = 0.f;
  for (int64_t c = lane * V; c < C; c += kWarp * V) {
    float xv[V];
    load(xv, x + c);
#pragma unroll
    for (int k = 0; k < V; ++k) sq += (xv[k] - m) * (xv[k] - m);
  }
  const float s = rsqrtf(warp_sum(sq) / static_cast<float>(C) + eps);
  bf16* y = out + n * C;
  for (int64_t c = lane * V; c < C; c += kWarp * V) {
    float xv[V], w[V], b[V], yv[V];
    load(xv, x + c);
    load(w, weight + c);
    load(b, bias + c);
#pragma unroll
    for (int k = 0; k < V; ++k) yv[k] = (xv[k] - m) * s * w[k] + b[k];
    store(y + c, yv);
  }
  if (lane == 0) {
    mean[n] = m;
    rstd[n] = s;
  }
}

template <int V>
__global__ void layernorm_input_grad_kernel(bf16* dinp, const bf16* dout, const bf16* inp, const bf16* weight,
                                  const float* mean, const float* rstd, int64_t N, int64_t C,
                                  bool add_to_dinp) {
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (n >= N) return;
  const bf16* x = inp + n * C;
  const bf16* dy = dout + n * C;
  const float m = mean[n], s = rstd[n];
  float sum_g = 0.f, sum_g_xhat = 0.f;
  for (int64_t c = lane * V; c < C; c += kWarp * V) {
    float xv[V], dyv[V], w[V];
    load(xv, x + c);
    load(dyv, dy + c);
    load(w, weight + c);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const float g = dyv[k] * w[k];
      sum_g += g;
      sum_g_xhat += g * ((xv[k] - m) * s);
    }
  }
  const float mean_g = warp_sum(sum_g) / static_cast<float>(C);
  const float mean_g_xhat = warp_sum(sum_g_xhat) / static_cast<float>(C);
  // Each element of dinp is written by the lane that reads the same element
  // of dout, after reading it: dinp may alias dout.
  bf16* dx = dinp + n * C;
  for (int64_t c = lane * V; c < C; c += kWarp * V) {
    float xv[V], dyv[V], w[V];
    load(xv, x + c);
    load(dyv, dy + c);
    load(w, weight + c);
    float stored[V];
    store_input_grad(dx + c, xv, dyv, w, m, s, mean_g, mean_g_xhat, add_to_dinp, stored);
  }
}

// The 8-wide path needs every row 16-byte aligned.
bool rows_vectorizable(int64_t C, std::initializer_list<const void*> pointers) {
  if (C % kVec != 0) return false;
  for (const void* p : pointers)
    if (!aligned16(p)) return false;
  return true;
}

// Parameter gradients, pass 1: block (channel tile, row chunk), 32 x 8
// threads. Thread (x, y) sums rows y, y+8, ... of the chunk for V adjacent
// channels (one 16-byte load of dout and of inp a row with V = 8, so a warp
// reads 512 contiguous bytes); the 8 row lanes' sums are then added in y
// order. A chunk's result goes to partial[chunk][c].
constexpr int kChunkRows = 256;
constexpr int kRowLanes = 8;

template <int V>
__global__ void __launch_bounds__(kWarp * kRowLanes)
    layernorm_param_partials_kernel(float* partial_w, float* partial_b, const bf16* dout, const bf16* inp,
                                    const float* mean, const float* rstd, int64_t N, int64_t C) {
  constexpr int kTile = kWarp * V;
  __shared__ float shared_w[kRowLanes][kTile], shared_b[kRowLanes][kTile];
  const int64_t tile_col = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t c = tile_col + threadIdx.x * V;  // V > 1 needs C % V == 0
  const int64_t chunk = blockIdx.y;
  const int64_t row_end = min(N, (chunk + 1) * kChunkRows);
  float sw[V] = {}, sb[V] = {};
  if (c < C) {
#pragma unroll 4
    for (int64_t n = chunk * kChunkRows + threadIdx.y; n < row_end; n += kRowLanes) {
      float dy[V], xv[V];
      load(dy, dout + n * C + c);
      load(xv, inp + n * C + c);
      const float m = mean[n], r = rstd[n];
#pragma unroll
      for (int k = 0; k < V; ++k) {
        sw[k] += dy[k] * ((xv[k] - m) * r);
        sb[k] += dy[k];
      }
    }
  }
#pragma unroll
  for (int k = 0; k < V; ++k) {
    shared_w[threadIdx.y][threadIdx.x * V + k] = sw[k];
    shared_b[threadIdx.y][threadIdx.x * V + k] = sb[k];
  }
  __syncthreads();
  for (int t = threadIdx.y * kWarp + threadIdx.x; t < kTile && tile_col + t < C; t += kWarp * kRowLanes) {
    float w = 0.f, b = 0.f;
    for (int y = 0; y < kRowLanes; ++y) {
      w += shared_w[y][t];
      b += shared_b[y][t];
    }
    partial_w[chunk * C + tile_col + t] = w;
    partial_b[chunk * C + tile_col + t] = b;
  }
}

template <int V>
void launch_param_partials(float* partial_w, float* partial_b, const bf16* dout, const bf16* inp, const float* mean,
                           const float* rstd, int64_t N, int64_t C, int64_t chunks, cudaStream_t stream) {
  const dim3 grid(blocks_for(C, kWarp * V), static_cast<unsigned>(chunks));
  layernorm_param_partials_kernel<V>
      <<<grid, dim3(kWarp, kRowLanes), 0, stream>>>(partial_w, partial_b, dout, inp, mean, rstd, N, C);
}

int64_t chunk_count(int64_t N) { return (N + kChunkRows - 1) / kChunkRows; }

// The whole backward in one pass, for rows of kPacks * 256 channels up to
// 1024 (GPT-2 small and medium; two blocks an SM up to 768, one at 1024,
// where the row and the sums take 168 registers): each warp takes rows of
// its block's kOnePassRows, reads x and dout once, writes dinp, and keeps its
// lanes' parameter-gradient sums in registers; the block's 8 warps then add
// theirs in a fixed tree (deterministic) and write one partial per block,
// which add_chunk_sums adds in block order. Saves the second read of x and
// dout that the partials kernel above makes. With kDinpSums it also sums the
// columns of dinp as stored (a residual stream's gradient, whose column sums
// are the bias gradient of the layer that wrote the stream), each warp in its
// own row of shared memory: registers for them would leave one block an SM.
constexpr int kOnePassRows = 64;
constexpr int kOnePassWarps = 8;

// The block's shared memory: the warps' dinp sums during the rows, then the
// halves of the tree over the parameter sums.
template <int C>
union OnePassShared {
  float dinp_sums[kOnePassWarps][C];
  float tree[kOnePassWarps / 2][2][C];
};

// Tree over the warps of the parameter sums (kPacks x kVec values a lane, of
// dweight and of dbias): the upper half stores, the lower half adds, halving
// until warp 0 holds the block's sums.
template <int kPacks, int C>
__device__ void add_over_warps(float (&v)[2][kPacks][kVec], float (*rows)[2][C], int warp, int lane) {
  for (int half = kOnePassWarps / 2; half > 0; half /= 2) {
    if (warp >= half && warp < 2 * half)
#pragma unroll
      for (int a = 0; a < 2; ++a)
#pragma unroll
        for (int p = 0; p < kPacks; ++p)
#pragma unroll
          for (int k = 0; k < kVec; ++k) rows[warp - half][a][(p * kWarp + lane) * kVec + k] = v[a][p][k];
    __syncthreads();
    if (warp < half)
#pragma unroll
      for (int a = 0; a < 2; ++a)
#pragma unroll
        for (int p = 0; p < kPacks; ++p)
#pragma unroll
          for (int k = 0; k < kVec; ++k) v[a][p][k] += rows[warp][a][(p * kWarp + lane) * kVec + k];
    __syncthreads();
  }
}

// Warp 0's kPacks x kVec sums a lane, as row blockIdx.x of `partial`.
template <int kPacks, int C>
__device__ void write_partial(float* partial, const float (&v)[kPacks][kVec], int lane) {
  float* row = partial + static_cast<int64_t>(blockIdx.x) * C;
#pragma unroll
  for (int p = 0; p < kPacks; ++p) {
    float4* out = reinterpret_cast<float4*>(row + (p * kWarp + lane) * kVec);
    out[0] = make_float4(v[p][0], v[p][1], v[p][2], v[p][3]);
    out[1] = make_float4(v[p][4], v[p][5], v[p][6], v[p][7]);
  }
}

// partials: [3][gridDim.x][C] (dweight's, dbias's, dinp's sums).
template <int kPacks, bool kDinpSums>
__global__ void __launch_bounds__(kOnePassWarps * kWarp, kPacks <= 3 ? 2 : 1)
    layernorm_backward_one_pass_kernel(bf16* dinp, float* partials, const bf16* dout, const bf16* inp,
                                       const bf16* weight, const float* mean, const float* rstd, int64_t N,
                                       bool add_to_dinp) {
  constexpr int C = kPacks * kWarp * kVec;
  __shared__ OnePassShared<C> shared;
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  float* dinp_sums = shared.dinp_sums[warp];  // this warp's; each lane its own columns
  if constexpr (kDinpSums)
#pragma unroll
    for (int p = 0; p < kPacks; ++p)
#pragma unroll
      for (int k = 0; k < kVec; ++k) dinp_sums[(p * kWarp + lane) * kVec + k] = 0.f;
  float sums[2][kPacks][kVec] = {};  // dweight's, dbias's
  const int64_t row_end = min(N, (static_cast<int64_t>(blockIdx.x) + 1) * kOnePassRows);
  for (int64_t n = static_cast<int64_t>(blockIdx.x) * kOnePassRows + warp; n < row_end; n += kOnePassWarps) {
    const bf16* x = inp + n * C;
    const bf16* dy = dout + n * C;
    const float m = mean[n], s = rstd[n];
    // The row is held as loaded (bf16, 4 registers a pack) and widened twice:
    // fp32 copies of it would not leave registers for two blocks an SM.
    Pack<bf16, kVec> xp[kPacks], dyp[kPacks];
    float sum_g = 0.f, sum_g_xhat = 0.f;
#pragma unroll
    for (int p = 0; p < kPacks; ++p) {
      const int c = (p * kWarp + lane) * kVec;
      xp[p] = *reinterpret_cast<const Pack<bf16, kVec>*>(x + c);
      dyp[p] = *reinterpret_cast<const Pack<bf16, kVec>*>(dy + c);
      float w[kVec];
      load(w, weight + c);
#pragma unroll
      for (int k = 0; k < kVec; ++k) {
        const float xhat = (__bfloat162float(xp[p].v[k]) - m) * s, dyv = __bfloat162float(dyp[p].v[k]);
        const float g = dyv * w[k];
        sum_g += g;
        sum_g_xhat += g * xhat;
        sums[0][p][k] += dyv * xhat;
        sums[1][p][k] += dyv;
      }
    }
    const float mean_g = warp_sum(sum_g) / static_cast<float>(C);
    const float mean_g_xhat = warp_sum(sum_g_xhat) / static_cast<float>(C);
    // Each lane writes only the elements it has read: dinp may alias dout.
    bf16* dx = dinp + n * C;
#pragma unroll
    for (int p = 0; p < kPacks; ++p) {
      const int c = (p * kWarp + lane) * kVec;
      float xv[kVec], dyv[kVec], w[kVec], stored[kVec];
#pragma unroll
      for (int k = 0; k < kVec; ++k) xv[k] = __bfloat162float(xp[p].v[k]), dyv[k] = __bfloat162float(dyp[p].v[k]);
      load(w, weight + c);
      store_input_grad(dx + c, xv, dyv, w, m, s, mean_g, mean_g_xhat, add_to_dinp, stored);
      if constexpr (kDinpSums)
#pragma unroll
        for (int k = 0; k < kVec; ++k) dinp_sums[c + k] += stored[k];
    }
  }
  if constexpr (kDinpSums) {
    // Each lane's columns of the warps' rows, added in warp order; then the
    // rows are free for the tree below.
    __syncthreads();
    if (warp == 0) {
      float ds[kPacks][kVec];
#pragma unroll
      for (int p = 0; p < kPacks; ++p)
#pragma unroll
        for (int k = 0; k < kVec; ++k) {
          const int c = (p * kWarp + lane) * kVec + k;
          ds[p][k] = shared.dinp_sums[0][c];
          for (int w = 1; w < kOnePassWarps; ++w) ds[p][k] += shared.dinp_sums[w][c];
        }
      write_partial<kPacks, C>(partials + 2 * static_cast<int64_t>(gridDim.x) * C, ds, lane);
    }
  }
  __syncthreads();
  add_over_warps<kPacks, C>(sums, shared.tree, warp, lane);
  if (warp != 0) return;
  write_partial<kPacks, C>(partials, sums[0], lane);
  write_partial<kPacks, C>(partials + static_cast<int64_t>(gridDim.x) * C, sums[1], lane);
}

// Whether rows of C channels are the one-pass kernel's (whole packs of 256,
// at most four).
bool one_pass_width(int64_t C) { return C % (kWarp * kVec) == 0 && C <= 4 * kWarp * kVec; }

// Packs of 8 channels per lane of the one-pass kernel for this row width, or
// 0 where it does not apply (the two-pass path then runs).
int one_pass_packs(int64_t C, std::initializer_list<const void*> pointers) {
  if (!one_pass_width(C)) return 0;
  for (const void* p : pointers)
    if (!aligned16(p)) return 0;
  return static_cast<int>(C / (kWarp * kVec));
}

int64_t one_pass_blocks(int64_t N) { return (N + kOnePassRows - 1) / kOnePassRows; }

template <int kPacks>
void launch_one_pass(bf16* dinp, float* partials, const bf16* dout, const bf16* inp, const bf16* weight,
                     const float* mean, const float* rstd, int64_t N, bool add_to_dinp, bool dinp_sums,
                     cudaStream_t stream) {
  const auto kernel = dinp_sums ? layernorm_backward_one_pass_kernel<kPacks, true>
                                : layernorm_backward_one_pass_kernel<kPacks, false>;
  kernel<<<static_cast<unsigned>(one_pass_blocks(N)), kOnePassWarps * kWarp, 0, stream>>>(
      dinp, partials, dout, inp, weight, mean, rstd, N, add_to_dinp);
}

}  // namespace

void layernorm_forward(bf16* out, float* mean, float* rstd, const bf16* inp, const bf16* weight,
                       const bf16* bias, int64_t N, int64_t C, float eps, cudaStream_t stream) {
  if (N == 0) return;
  const unsigned blocks = blocks_for(N, kRowsPerBlock);
  if (rows_vectorizable(C, {out, inp, weight, bias}))
    layernorm_forward_kernel<kVec><<<blocks, kRowThreads, 0, stream>>>(out, mean, rstd, inp, weight, bias, N, C, eps);
  else
    layernorm_forward_kernel<1><<<blocks, kRowThreads, 0, stream>>>(out, mean, rstd, inp, weight, bias, N, C, eps);
  check_launch("layernorm_forward", {{"N", N}, {"C", C}});
}

size_t layernorm_backward_workspace_bytes(int64_t N, int64_t C) {
  // Three partials (dweight's, dbias's, dinp's) per 64 rows where the
  // one-pass kernel may run; two per 256 on the two-pass path, taken when the
  // pointers are not aligned, and enough for its bias_grad of dinp.
  const int64_t partials = one_pass_width(C) ? 3 * one_pass_blocks(N) : 2 * chunk_count(N);
  return static_cast<size_t>(partials * C) * sizeof(float);
}

void layernorm_backward(bf16* dinp, float* dweight, float* dbias, const bf16* dout, const bf16* inp,
                        const bf16* weight, const float* mean, const float* rstd, int64_t N,
                        int64_t C, void* workspace, size_t workspace_bytes, cudaStream_t stream,
                        bool add_to_dinp, float* dinp_sums, bool accumulate) {
  // The parameter sums (and dinp's, where asked) from [chunks, C] partials.
  const auto add_sums = [&](const float* partials, int64_t chunks) {
    if (dinp_sums)
      add_chunk_sums({dweight, dbias, dinp_sums}, partials, chunks, C, stream, accumulate);
    else
      add_chunk_sums({dweight, dbias}, partials, chunks, C, stream, accumulate);
  };
  if (N == 0) return add_sums(nullptr, 0);  // sums of no rows
  const Dims dims = {{"N", N}, {"C", C}};
  if (workspace_bytes < layernorm_backward_workspace_bytes(N, C))
    throw_cuda_error("layernorm_backward", dims, "workspace too small");
  float* partials = static_cast<float*>(workspace);
  if (const int packs = one_pass_packs(C, {dinp, dout, inp, weight, partials}); packs > 0) {
    const bool sums = dinp_sums != nullptr;
    const auto launch = packs == 4   ? launch_one_pass<4>
                        : packs == 3 ? launch_one_pass<3>
                        : packs == 2 ? launch_one_pass<2>
                                     : launch_one_pass<1>;
    launch(dinp, partials, dout, inp, weight, mean, rstd, N, add_to_dinp, sums, stream);
    check_launch("layernorm_backward (one pass)", dims);
    add_sums(partials, one_pass_blocks(N));
    return;
  }
  const int64_t chunks = chunk_count(N);
  float* partial_b = partials + chunks * C;
  // Parameter gradients first: they read dout, which dinp may overwrite.
  if (rows_vectorizable(C, {dout, inp}))
    launch_param_partials<kVec>(partials, partial_b, dout, inp, mean, rstd, N, C, chunks, stream);
  else
    launch_param_partials<1>(partials, partial_b, dout, inp, mean, rstd, N, C, chunks, stream);
  check_launch("layernorm_backward (partials)", dims);
  add_chunk_sums({dweight, dbias}, partials, chunks, C, stream, accumulate);  // partial_b follows
  const unsigned blocks = blocks_for(N, kRowsPerBlock);
  if (rows_vectorizable(C, {dinp, dout, inp, weight}))
    layernorm_input_grad_kernel<kVec><<<blocks, kRowThreads, 0, stream>>>(dinp, dout, inp, weight, mean, rstd, N, C,
                                                                add_to_dinp);
  else
    layernorm_input_grad_kernel<1><<<blocks, kRowThreads, 0, stream>>>(dinp, dout, inp, weight, mean, rstd, N, C,
                                                             add_to_dinp);
  check_launch("layernorm_backward", dims);
  if (dinp_sums) bias_grad(dinp_sums, dinp, N, C, workspace, workspace_bytes, stream, accumulate);  // its own pass here
}

}  // namespace alibi::cuda
