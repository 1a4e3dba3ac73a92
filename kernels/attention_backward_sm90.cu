// Launch of the Hopper backward kernels (attention_backward_sm90.cuh): the
// row statistics (lse in log2 units and delta, padded rows), then either
//  - fused: the dK/dV kernel that also adds dQ into an fp32 accumulator
//    (bulk reductions, whose order varies), and the conversion of that
//    accumulator into dqkv; or
//  - deterministic: the dK/dV kernel and the dQ kernel,
// each with TMA tensor maps over qkv and dout.
#include <cstdlib>
#include <cstring>

#include "kernels/attention_backward_sm90.cuh"
#include "kernels/attention_launch.cuh"
#include "kernels/tensor_map.cuh"

namespace alibi::cuda {
namespace {

template <class Kernel>
cudaError_t launch_one(Kernel kernel, size_t smem, dim3 grid, unsigned threads,
                       const CUtensorMap& qkv_map, const CUtensorMap& dout_map,
                       const Sm90BackwardArgs& args, cudaStream_t stream) {
  if (const cudaError_t st = allow_shared_memory(kernel, smem); st != cudaSuccess) return st;
  kernel<<<grid, threads, smem, stream>>>(qkv_map, dout_map, args);
  return cudaGetLastError();
}

// The Sm90RowStats rows, one thread per (b, h, t < t_pad).
__global__ void row_stats_sm90_kernel(float* lse_log2, float* delta, const bf16* dout,
                                      const bf16* out, const float* lse, HeadLayout lay,
                                      int64_t t_pad, int64_t n) {
  const int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (k >= n) return;
  const int64_t bh = k / t_pad, t = k % t_pad;
  if (t >= lay.T) {
    lse_log2[k] = INFINITY;
    delta[k] = 0.f;
    return;
  }
  const int64_t r = ((bh / lay.H) * lay.T + t) * lay.H + bh % lay.H;  // row of [B, T, H] out
  lse_log2[k] = lse[bh * lay.T + t] * kLog2e;
  delta[k] = bf16_row_dot(dout + r * lay.D, out + r * lay.D, lay.D);
}

// dQ = accum * 1/sqrt(D) into the q part of dqkv; accum in DqAccumLayout,
// 8 elements (4 column pairs, contiguous there too) per thread.
template <int D, class Layout>
__global__ void dq_from_accumulator_kernel(bf16* dqkv, const float* accum, HeadLayout lay,
                                           int64_t n_chunks) {
  const int64_t n = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (n >= n_chunks) return;
  const int d = int(n % (D / 8)) * 8;
  const int64_t row = n / (D / 8);  // (b * H + h) * T + t
  const int64_t t = row % lay.T, bh = row / lay.T;
  const int r = int(t % Layout::kRows), col = d % Layout::kCols;
  const float* src = accum + Layout::block(bh, lay.T, t / Layout::kRows, d / Layout::kCols) +
                     r * Layout::kCols + 2 * Layout::pair_in_row(r, col / 2);
  const float scale = rsqrtf(float(D));
  const float4 lo = reinterpret_cast<const float4*>(src)[0];
  const float4 hi = reinterpret_cast<const float4*>(src)[1];
  uint4 packed;
  packed.x = mma::pack_bf16x2(lo.x * scale, lo.y * scale);
  packed.y = mma::pack_bf16x2(lo.z * scale, lo.w * scale);
  packed.z = mma::pack_bf16x2(hi.x * scale, hi.y * scale);
  packed.w = mma::pack_bf16x2(hi.z * scale, hi.w * scale);
  bf16* dq = dqkv + lay.qkv(bh / lay.H, 0, bh % lay.H) + t * 3 * lay.H * D + d;
  *reinterpret_cast<uint4*>(dq) = packed;
}

template <class Tr>
cudaError_t launch_backward_kernels(bf16* dqkv, const bf16* dout, const bf16* qkv,
                               const Sm90RowStats& stats, const float* slopes, float* dq_accum,
                               const AttentionLaunch& l) {
  constexpr int D = Tr::kHeadDim;
  using Smem = Sm90BackwardSmem<Tr>;
  const HeadLayout& lay = l.layout;
  CUtensorMap qkv_map, dout_map;
  if (const cudaError_t st = encode_rows_map(&qkv_map, qkv, D, 3 * lay.H, l.B * lay.T, Tr::kBoxRows);
      st != cudaSuccess)
    return st;
  if (const cudaError_t st = encode_rows_map(&dout_map, dout, D, lay.H, l.B * lay.T, Tr::kBoxRows);
      st != cudaSuccess)
    return st;
  const Sm90BackwardArgs args{dqkv, dq_accum, stats, slopes, lay};
  const dim3 grid(unsigned(l.B * lay.H), unsigned((lay.T + Tr::kBlock - 1) / Tr::kBlock));
  if (dq_accum == nullptr) {  // deterministic: dK/dV, then dQ by its own kernel
    if (const cudaError_t st = launch_one(attention_dkdv_sm90_kernel<Tr, false>, Smem::bytes(),
                                          grid, Tr::kThreads, qkv_map, dout_map, args, l.stream);
        st != cudaSuccess)
      return st;
    return launch_one(attention_dq_sm90_kernel<Tr>, Smem::bytes(), grid, Tr::kThreads, qkv_map,
                      dout_map, args, l.stream);
  }
  using Layout = DqAccumLayout<D, Tr::kDqColumnParts>;
  const size_t accum_bytes = size_t(Layout::floats(l.B * lay.H, lay.T)) * sizeof(float);
  if (const cudaError_t st = cudaMemsetAsync(dq_accum, 0, accum_bytes, l.stream); st != cudaSuccess)
    return st;
  if (const cudaError_t st = launch_one(attention_dkdv_sm90_kernel<Tr, true>, Smem::bytes(), grid,
                                        Tr::kThreads, qkv_map, dout_map, args, l.stream);
      st != cudaSuccess)
    return st;
  const int64_t chunks = l.B * lay.H * lay.T * D / 8;
  dq_from_accumulator_kernel<D, Layout><<<unsigned((chunks + 255) / 256), 256, 0, l.stream>>>(
      dqkv, dq_accum, lay, chunks);
  return cudaGetLastError();
}

}  // namespace

int64_t attention_dq_accumulator_floats(int64_t B, int64_t H, int64_t T, int64_t D) {
  return B * H * DqAccumLayout<64, 1>::tiles(T) * DqAccumLayout<64, 1>::kRows * D;  // any layout's size
}

int64_t attention_sm90_stats_floats(int64_t B, int64_t H, int64_t T) {
  return 2 * B * H * Sm90RowStats::padded(T);
}

template <int D>
cudaError_t launch_attention_backward_sm90(bf16* dqkv, const bf16* dout, const bf16* qkv,
                                           const bf16* out, const float* lse, const float* slopes,
                                           float* stats_scratch, float* dq_accum,
                                           const AttentionLaunch& l) {
  const HeadLayout& lay = l.layout;
  const int64_t t_pad = Sm90RowStats::padded(lay.T), n = l.B * lay.H * t_pad;
  float* lse_log2 = stats_scratch;
  float* delta = stats_scratch + n;
  row_stats_sm90_kernel<<<unsigned((n + 255) / 256), 256, 0, l.stream>>>(lse_log2, delta, dout, out,
                                                                        lse, lay, t_pad, n);
  if (const cudaError_t st = cudaGetLastError(); st != cudaSuccess) return st;
  const Sm90RowStats stats{lse_log2, delta, t_pad};
  // Measurement switches at D = 64 (Sm90BackwardTraits): ALIBI_SM90_BWD_OWNED=smem
  // reads the owned rows from shared memory; ALIBI_SM90_BWD_DQ=columns splits
  // the fused dQ by columns.
  const auto is = [](const char* name, const char* value) {
    const char* v = std::getenv(name);
    return v != nullptr && std::strcmp(v, value) == 0;
  };
  constexpr int S = kSm90BackwardStages;
  if constexpr (D == 64) {
    if (is("ALIBI_SM90_BWD_OWNED", "smem"))
      return launch_backward_kernels<Sm90BackwardTraits<D, S, false>>(dqkv, dout, qkv, stats, slopes, dq_accum, l);
    if (is("ALIBI_SM90_BWD_DQ", "columns"))
      return launch_backward_kernels<Sm90BackwardTraits<D, S, true, 2>>(dqkv, dout, qkv, stats, slopes, dq_accum, l);
  }
  return launch_backward_kernels<Sm90BackwardTraits<D, S>>(dqkv, dout, qkv, stats, slopes, dq_accum, l);
}

template cudaError_t launch_attention_backward_sm90<64>(bf16*, const bf16*, const bf16*,
                                                        const bf16*, const float*, const float*,
                                                        float*, float*, const AttentionLaunch&);
template cudaError_t launch_attention_backward_sm90<128>(bf16*, const bf16*, const bf16*,
                                                         const bf16*, const float*, const float*,
                                                         float*, float*, const AttentionLaunch&);

}  // namespace alibi::cuda
