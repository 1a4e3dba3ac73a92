// Building blocks shared by the tensor-core attention kernels: addressing of
// one head inside the interleaved layouts, tile copies between global and
// shared memory, warp-level matrix products on mma fragments, and the
// ALiBi/causal transform of a score tile.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "kernels/alibi_score.cuh"
#include "kernels/mma_bf16.cuh"

namespace alibi::cuda {

using bf16 = __nv_bfloat16;

// Where one (b, h) lives: qkv is [B,T,3,H,D], out/dout [B,T,H,D], lse/delta [B,H,T].
struct HeadLayout {
  int64_t T, H, D;
  __device__ int64_t qkv_stride() const { return 3 * H * D; }
  __device__ int64_t out_stride() const { return H * D; }
  // Element offset of token 0 of part `which` (0 q, 1 k, 2 v) of head h in batch b.
  __device__ int64_t qkv(int64_t b, int which, int64_t h) const {
    return b * T * qkv_stride() + which * H * D + h * D;
  }
  __device__ int64_t out(int64_t b, int64_t h) const { return b * T * out_stride() + h * D; }
  __device__ int64_t row(int64_t b, int64_t h) const { return (b * H + h) * T; }
};

// x . y over D bf16 elements (16-byte aligned rows, D a multiple of 8), in fp32.
__device__ inline float bf16_row_dot(const bf16* x_row, const bf16* y_row, int64_t D) {
  const uint4* x = reinterpret_cast<const uint4*>(x_row);
  const uint4* y = reinterpret_cast<const uint4*>(y_row);
  float sum = 0.f;
  for (int64_t c = 0; c < D / 8; ++c) {
    const uint4 xv = x[c], yv = y[c];
    const __nv_bfloat162* xp = reinterpret_cast<const __nv_bfloat162*>(&xv);
    const __nv_bfloat162* yp = reinterpret_cast<const __nv_bfloat162*>(&yv);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 xf = __bfloat1622float2(xp[k]), yf = __bfloat1622float2(yp[k]);
      sum += xf.x * yf.x + xf.y * yf.y;
    }
  }
  return sum;
}

// Thread coordinates inside the mma fragments.
struct Lane {
  int lane, g, t;  // g = row within an 8-row group, t = column pair
  __device__ Lane() : lane(threadIdx.x % 32), g((threadIdx.x % 32) / 4), t(threadIdx.x % 4) {}
};

// Writes a warp's 16 rows of a 64 x kD wgmma accumulator (wgmma.cuh layout)
// as bf16 to rows row0 + g (times row_factor[0]) and row0 + g + 8 (times
// row_factor[1]) of a head whose rows are stride elements apart; rows < T,
// columns < cols (a multiple of 8: a head dim narrower than the tile's).
template <int kD>
__device__ __forceinline__ void store_accumulator_rows(bf16* head, int64_t stride,
                                                       const float (&acc)[kD / 8][4], int64_t row0,
                                                       int64_t T, const float (&row_factor)[2],
                                                       int cols = kD) {
  const Lane L;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int64_t i = row0 + L.g + 8 * half;
    if (i < T) {
      bf16* row = head + i * stride + 2 * L.t;
#pragma unroll
      for (int c = 0; c < kD / 8; ++c)
        if (8 * c < cols)
          *reinterpret_cast<uint32_t*>(row + 8 * c) = mma::pack_bf16x2(
              acc[c][2 * half] * row_factor[half], acc[c][2 * half + 1] * row_factor[half]);
    }
  }
}

// Starts copying rows [row0, row0 + kRows) of one head (stride elements
// apart in global memory) into a padded shared tile; rows >= T become zero.
template <class Tr, int kRows>
__device__ void copy_rows_async(bf16* tile, const bf16* head, int64_t stride, int64_t row0,
                                int64_t T) {
  constexpr int kChunks = kRows * Tr::kChunksPerRow;
  for (int c = threadIdx.x; c < kChunks; c += Tr::kThreads) {
    const int r = c / Tr::kChunksPerRow, col = (c % Tr::kChunksPerRow) * 8;
    const bool valid = row0 + r < T;
    const bf16* src = head + (valid ? (row0 + r) * stride : 0) + col;
    mma::cp_async_16(tile + r * Tr::kRowStride + col, src, valid);
  }
}

// The K/V pipeline of the kernels that walk key tiles (forward, dQ): K and V
// tiles are double-buffered in shared memory; this starts copying tile
// `tile + 1` into the idle buffer, then waits until tile `tile` has landed.
template <class Tr, int kN, int kBufferElems>
__device__ void prefetch_next_kv_and_wait(bf16* s_k, bf16* s_v, const bf16* k_head, const bf16* v_head,
                                          int64_t stride, int tile, int n_tiles, int64_t T) {
  const int idle = (tile % 2) ^ 1;
  if (tile + 1 < n_tiles) {
    copy_rows_async<Tr, kN>(s_k + idle * kBufferElems, k_head, stride, int64_t(tile + 1) * kN, T);
    copy_rows_async<Tr, kN>(s_v + idle * kBufferElems, v_head, stride, int64_t(tile + 1) * kN, T);
    mma::cp_async_commit();
    mma::cp_async_wait<1>();
  } else {
    mma::cp_async_wait<0>();
  }
  __syncthreads();
}

// Writes the 16 rows of a warp (staged in a padded shared tile) to global
// memory with 16-byte stores, skipping rows >= T.
template <class Tr>
__device__ void store_warp_rows(bf16* head, int64_t stride, const bf16* tile, int64_t row0,
                                int64_t T) {
  constexpr int kChunks = 16 * Tr::kChunksPerRow;
  for (int c = threadIdx.x % 32; c < kChunks; c += 32) {
    const int r = c / Tr::kChunksPerRow, col = (c % Tr::kChunksPerRow) * 8;
    if (row0 + r < T)
      *reinterpret_cast<uint4*>(head + (row0 + r) * stride + col) =
          *reinterpret_cast<const uint4*>(tile + r * Tr::kRowStride + col);
  }
}

// Rounds a warp's 16 x kCols fp32 accumulator (times factor) to bf16 into
// its 16 rows of a padded shared tile.
template <class Tr, int kCols>
__device__ void stage_accumulator(bf16* tile, const float (&acc)[kCols / 8][4], float factor) {
  const Lane L;
#pragma unroll
  for (int nt = 0; nt < kCols / 8; ++nt) {
    const int col = nt * 8 + 2 * L.t;
    *reinterpret_cast<uint32_t*>(tile + L.g * Tr::kRowStride + col) =
        mma::pack_bf16x2(acc[nt][0] * factor, acc[nt][1] * factor);
    *reinterpret_cast<uint32_t*>(tile + (L.g + 8) * Tr::kRowStride + col) =
        mma::pack_bf16x2(acc[nt][2] * factor, acc[nt][3] * factor);
  }
}

template <int kTiles>
__device__ void zero(float (&acc)[kTiles][4]) {
#pragma unroll
  for (int i = 0; i < kTiles; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
}

// acc[16 x kN] += A[16 x kK] * B[kN x kK]^T with both operands in shared
// memory, row-major along K (the "rows dot rows" product: Q K^T, dO V^T).
// a points at the warp's first A row, b at the first of kN B rows.
template <int kK, int kN, int kStride>
__device__ void warp_gemm_rows_rows(float (&acc)[kN / 8][4], const bf16* a, const bf16* b) {
  const Lane L;
  // ldmatrix row addresses: A's four 8x8 blocks are (rows 0-7 | 8-15) x (cols 0-7 | 8-15);
  // B's are (rows 0-7, k lo), (rows 0-7, k hi), (rows 8-15, k lo), (rows 8-15, k hi).
  const bf16* a_row = a + (L.lane % 16) * kStride + (L.lane / 16) * 8;
  const bf16* b_row = b + ((L.lane % 8) + (L.lane / 16) * 8) * kStride + ((L.lane / 8) % 2) * 8;
#pragma unroll
  for (int k = 0; k < kK; k += 16) {
    uint32_t af[4];
    mma::ldmatrix_x4(af, a_row + k);
#pragma unroll
    for (int n = 0; n < kN; n += 16) {
      uint32_t bf[4];
      mma::ldmatrix_x4(bf, b_row + n * kStride + k);
      mma::mma_16816(acc[n / 8], af, bf[0], bf[1]);
      mma::mma_16816(acc[n / 8 + 1], af, bf[2], bf[3]);
    }
  }
}

// A fragments of a 16 x kK bf16 matrix taken from a fp32 accumulator of the
// same shape (the C layout of two adjacent n-tiles is the A layout of one k-step).
template <int kK>
__device__ void accumulator_to_a(uint32_t (&a)[kK / 16][4], const float (&acc)[kK / 8][4]) {
#pragma unroll
  for (int k = 0; k < kK / 16; ++k) {
    a[k][0] = mma::pack_bf16x2(acc[2 * k][0], acc[2 * k][1]);
    a[k][1] = mma::pack_bf16x2(acc[2 * k][2], acc[2 * k][3]);
    a[k][2] = mma::pack_bf16x2(acc[2 * k + 1][0], acc[2 * k + 1][1]);
    a[k][3] = mma::pack_bf16x2(acc[2 * k + 1][2], acc[2 * k + 1][3]);
  }
}

// acc[16 x kN] += A[16 x kK] * B[kK x kN] with A in registers and B in
// shared memory, row-major along N (P V, dS K, P^T dO, dS^T Q).
template <int kK, int kN, int kStride>
__device__ void warp_gemm_regs_cols(float (&acc)[kN / 8][4], const uint32_t (&a)[kK / 16][4],
                                    const bf16* b) {
  const Lane L;
  // Transposed loads: blocks (k 0-7, n lo), (k 8-15, n lo), (k 0-7, n hi), (k 8-15, n hi).
  const bf16* b_row = b + ((L.lane % 8) + ((L.lane / 8) % 2) * 8) * kStride + (L.lane / 16) * 8;
#pragma unroll
  for (int k = 0; k < kK; k += 16) {
#pragma unroll
    for (int n = 0; n < kN; n += 16) {
      uint32_t bf[4];
      mma::ldmatrix_x4_trans(bf, b_row + k * kStride + n);
      mma::mma_16816(acc[n / 8], a[k / 16], bf[0], bf[1]);
      mma::mma_16816(acc[n / 8 + 1], a[k / 16], bf[2], bf[3]);
    }
  }
}

// Turns raw dot products of a warp's 16 x kN score tile into log2-domain
// scores (alibi_score.cuh), and -inf where j > i when mask is set (only
// tiles that cross the diagonal need it).
// kRowsAreKeys: the tile is S^T (rows keys j, columns queries i).
template <int kN, bool kRowsAreKeys>
__device__ void apply_alibi_and_mask(float (&s)[kN / 8][4], int64_t row0, int64_t col0,
                                     const AlibiLog2& alibi, bool mask) {
  const Lane L;
#pragma unroll
  for (int nt = 0; nt < kN / 8; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int64_t row = row0 + L.g + (e / 2) * 8, col = col0 + nt * 8 + 2 * L.t + (e % 2);
      const int64_t i = kRowsAreKeys ? col : row, j = kRowsAreKeys ? row : col;
      const int rel = static_cast<int>(j - i);
      s[nt][e] = (mask && is_future_key(rel)) ? -INFINITY : alibi.score(s[nt][e], alibi.bias(float(rel)));
    }
}

// Per-row online-softmax state of the two rows (g, g + 8) a thread touches.
struct RowState {
  float max[2] = {-INFINITY, -INFINITY};
  float sum[2] = {0.f, 0.f};  // this thread's partial sum; the quad is reduced at the end
};

__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

}  // namespace alibi::cuda
