// Causal ALiBi attention, first version: shared-memory tiles and fp32 SIMT
// math, one thread per query (forward, dQ) or per key (dK/dV). Correct for
// every T; the tensor-core kernels replace it for speed.
#include "kernels/attention.cuh"

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

namespace alibi::cuda {
namespace {

constexpr int kTile = 64;  // rows per CTA and rows per shared-memory tile

// Element offsets of token t of head h inside the interleaved layouts.
struct Layout {
  int64_t T, H, D;
  __device__ int64_t qkv(int64_t b, int64_t t, int which, int64_t h) const {
    return ((b * T + t) * 3 + which) * H * D + h * D;
  }
  __device__ int64_t out(int64_t b, int64_t t, int64_t h) const {
    return (b * T + t) * H * D + h * D;
  }
  __device__ int64_t row(int64_t b, int64_t h, int64_t t) const { return (b * H + h) * T + t; }
};

template <int D>
__device__ void load_row(float (&dst)[D], const __nv_bfloat16* src) {
#pragma unroll
  for (int d = 0; d < D; ++d) dst[d] = __bfloat162float(src[d]);
}

template <int D>
__device__ float dot_row(const float (&x)[D], const __nv_bfloat16* y) {
  float s = 0.f;
#pragma unroll
  for (int d = 0; d < D; ++d) s += x[d] * __bfloat162float(y[d]);
  return s;
}

// Copies rows [t0, t0 + kTile) of one head into shared memory; rows past T are zero.
template <int D>
__device__ void load_tile(__nv_bfloat16* tile, const __nv_bfloat16* base, int64_t stride,
                          int64_t t0, int64_t T) {
  for (int e = threadIdx.x; e < kTile * D; e += blockDim.x) {
    const int r = e / D, d = e % D;
    tile[e] = t0 + r < T ? base[(t0 + r) * stride + d] : __float2bfloat16(0.f);
  }
}

template <int D>
__global__ void forward_kernel(__nv_bfloat16* out, float* lse, const __nv_bfloat16* qkv,
                               const float* slopes, Layout L) {
  __shared__ __nv_bfloat16 k_tile[kTile * D], v_tile[kTile * D];
  const int64_t b = blockIdx.y / L.H, h = blockIdx.y % L.H;
  const int64_t i = int64_t(blockIdx.x) * kTile + threadIdx.x;
  const float scale = rsqrtf(float(D)), slope = slopes[h];
  const int64_t stride = 3 * L.H * D;
  float q[D], acc[D];
  if (i < L.T) load_row(q, qkv + L.qkv(b, i, 0, h));
#pragma unroll
  for (int d = 0; d < D; ++d) acc[d] = 0.f;
  float m = -INFINITY, l = 0.f;
  const int64_t last = min(L.T, int64_t(blockIdx.x + 1) * kTile);
  for (int64_t j0 = 0; j0 < last; j0 += kTile) {
    __syncthreads();
    load_tile<D>(k_tile, qkv + L.qkv(b, 0, 1, h), stride, j0, L.T);
    load_tile<D>(v_tile, qkv + L.qkv(b, 0, 2, h), stride, j0, L.T);
    __syncthreads();
    if (i >= L.T) continue;
    for (int jj = 0; jj < kTile && j0 + jj <= i; ++jj) {
      const float s = dot_row(q, k_tile + jj * D) * scale - slope * float(i - (j0 + jj));
      const float m_new = fmaxf(m, s);
      const float correction = expf(m - m_new), p = expf(s - m_new);
      l = l * correction + p;
#pragma unroll
      for (int d = 0; d < D; ++d)
        acc[d] = acc[d] * correction + p * __bfloat162float(v_tile[jj * D + d]);
      m = m_new;
    }
  }
  if (i >= L.T) return;
  __nv_bfloat16* o = out + L.out(b, i, h);
#pragma unroll
  for (int d = 0; d < D; ++d) o[d] = __float2bfloat16(acc[d] / l);
  if (lse) lse[L.row(b, h, i)] = m + logf(l);
}

// D_i = dO_i . O_i, one thread per (b, h, i).
__global__ void row_dot_kernel(float* d_out_dot, const __nv_bfloat16* dout,
                               const __nv_bfloat16* out, Layout L) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= L.T * L.H) return;
  const int64_t b = blockIdx.y, h = idx / L.T, i = idx % L.T;
  const int64_t off = L.out(b, i, h);
  float s = 0.f;
  for (int64_t d = 0; d < L.D; ++d)
    s += __bfloat162float(dout[off + d]) * __bfloat162float(out[off + d]);
  d_out_dot[L.row(b, h, i)] = s;
}

// One thread per key j: dV_j = sum_i p_ij dO_i, dK_j = sum_i ds_ij q_i.
template <int D>
__global__ void dkdv_kernel(__nv_bfloat16* dqkv, const __nv_bfloat16* dout,
                            const __nv_bfloat16* qkv, const float* lse, const float* d_out_dot,
                            const float* slopes, Layout L) {
  __shared__ __nv_bfloat16 q_tile[kTile * D], do_tile[kTile * D];
  __shared__ float lse_tile[kTile], dot_tile[kTile];
  const int64_t b = blockIdx.y / L.H, h = blockIdx.y % L.H;
  const int64_t j = int64_t(blockIdx.x) * kTile + threadIdx.x;
  const float scale = rsqrtf(float(D)), slope = slopes[h];
  float k[D], v[D], dk[D], dv[D];
  if (j < L.T) {
    load_row(k, qkv + L.qkv(b, j, 1, h));
    load_row(v, qkv + L.qkv(b, j, 2, h));
  }
#pragma unroll
  for (int d = 0; d < D; ++d) dk[d] = dv[d] = 0.f;
  for (int64_t i0 = int64_t(blockIdx.x) * kTile; i0 < L.T; i0 += kTile) {
    __syncthreads();
    load_tile<D>(q_tile, qkv + L.qkv(b, 0, 0, h), 3 * L.H * D, i0, L.T);
    load_tile<D>(do_tile, dout + L.out(b, 0, h), L.H * D, i0, L.T);
    for (int r = threadIdx.x; r < kTile; r += blockDim.x) {
      const bool valid = i0 + r < L.T;
      lse_tile[r] = valid ? lse[L.row(b, h, i0 + r)] : 0.f;
      dot_tile[r] = valid ? d_out_dot[L.row(b, h, i0 + r)] : 0.f;
    }
    __syncthreads();
    if (j >= L.T) continue;
    for (int ii = 0; ii < kTile && i0 + ii < L.T; ++ii) {
      const int64_t i = i0 + ii;
      if (i < j) continue;
      const float s = dot_row(k, q_tile + ii * D) * scale - slope * float(i - j);
      const float p = expf(s - lse_tile[ii]);
      const float dp = dot_row(v, do_tile + ii * D);
      const float ds = p * (dp - dot_tile[ii]);
#pragma unroll
      for (int d = 0; d < D; ++d) {
        dv[d] += p * __bfloat162float(do_tile[ii * D + d]);
        dk[d] += ds * __bfloat162float(q_tile[ii * D + d]);
      }
    }
  }
  if (j >= L.T) return;
  __nv_bfloat16* dk_out = dqkv + L.qkv(b, j, 1, h);
  __nv_bfloat16* dv_out = dqkv + L.qkv(b, j, 2, h);
#pragma unroll
  for (int d = 0; d < D; ++d) {
    dk_out[d] = __float2bfloat16(dk[d] * scale);
    dv_out[d] = __float2bfloat16(dv[d]);
  }
}

// One thread per query i: dQ_i = sum_j ds_ij k_j.
template <int D>
__global__ void dq_kernel(__nv_bfloat16* dqkv, const __nv_bfloat16* dout,
                          const __nv_bfloat16* qkv, const float* lse, const float* d_out_dot,
                          const float* slopes, Layout L) {
  __shared__ __nv_bfloat16 k_tile[kTile * D], v_tile[kTile * D];
  const int64_t b = blockIdx.y / L.H, h = blockIdx.y % L.H;
  const int64_t i = int64_t(blockIdx.x) * kTile + threadIdx.x;
  const float scale = rsqrtf(float(D)), slope = slopes[h];
  const int64_t stride = 3 * L.H * D;
  float q[D], dO[D], dq[D];
  float row_lse = 0.f, row_dot = 0.f;
  if (i < L.T) {
    load_row(q, qkv + L.qkv(b, i, 0, h));
    load_row(dO, dout + L.out(b, i, h));
    row_lse = lse[L.row(b, h, i)];
    row_dot = d_out_dot[L.row(b, h, i)];
  }
#pragma unroll
  for (int d = 0; d < D; ++d) dq[d] = 0.f;
  const int64_t last = min(L.T, int64_t(blockIdx.x + 1) * kTile);
  for (int64_t j0 = 0; j0 < last; j0 += kTile) {
    __syncthreads();
    load_tile<D>(k_tile, qkv + L.qkv(b, 0, 1, h), stride, j0, L.T);
    load_tile<D>(v_tile, qkv + L.qkv(b, 0, 2, h), stride, j0, L.T);
    __syncthreads();
    if (i >= L.T) continue;
    for (int jj = 0; jj < kTile && j0 + jj <= i; ++jj) {
      const float s = dot_row(q, k_tile + jj * D) * scale - slope * float(i - (j0 + jj));
      const float p = expf(s - row_lse);
      const float ds = p * (dot_row(dO, v_tile + jj * D) - row_dot);
#pragma unroll
      for (int d = 0; d < D; ++d) dq[d] += ds * __bfloat162float(k_tile[jj * D + d]);
    }
  }
  if (i >= L.T) return;
  __nv_bfloat16* dq_out = dqkv + L.qkv(b, i, 0, h);
#pragma unroll
  for (int d = 0; d < D; ++d) dq_out[d] = __float2bfloat16(dq[d] * scale);
}

[[noreturn]] void fail(const char* op, const AttentionDims& dims, const std::string& what) {
  std::ostringstream msg;
  msg << op << " (B=" << dims.B << ", T=" << dims.T << ", H=" << dims.H << ", D=" << dims.D
      << "): " << what;
  throw std::runtime_error(msg.str());
}

void check_launch(const char* op, const AttentionDims& dims) {
  const cudaError_t st = cudaGetLastError();
  if (st != cudaSuccess) fail(op, dims, std::string("launch failed: ") + cudaGetErrorString(st));
}

void validate(const char* op, const AttentionDims& dims) {
  if (dims.B <= 0 || dims.T <= 0 || dims.H <= 0) fail(op, dims, "B, T and H must be positive");
  if (dims.D != 32 && dims.D != 64 && dims.D != 80 && dims.D != 96 && dims.D != 128)
    fail(op, dims, "head dim must be one of 32, 64, 80, 96, 128");
}

// Calls f(std::integral_constant<int, D>) for the runtime head dim.
template <typename F>
void dispatch_head_dim(int64_t D, F&& f) {
  switch (D) {
    case 32: f(std::integral_constant<int, 32>{}); break;
    case 64: f(std::integral_constant<int, 64>{}); break;
    case 80: f(std::integral_constant<int, 80>{}); break;
    case 96: f(std::integral_constant<int, 96>{}); break;
    case 128: f(std::integral_constant<int, 128>{}); break;
  }
}

}  // namespace

size_t attention_backward_workspace_bytes(const AttentionDims& dims) {
  return static_cast<size_t>(dims.B * dims.H * dims.T) * sizeof(float);
}

void attention_forward(__nv_bfloat16* out, float* lse, const __nv_bfloat16* qkv, const float* slopes,
                       const AttentionDims& dims, cudaStream_t stream) {
  validate("attention_forward", dims);
  const Layout L{dims.T, dims.H, dims.D};
  const dim3 grid(static_cast<unsigned>((dims.T + kTile - 1) / kTile),
                  static_cast<unsigned>(dims.B * dims.H));
  dispatch_head_dim(dims.D, [&](auto d) {
    forward_kernel<decltype(d)::value><<<grid, kTile, 0, stream>>>(out, lse, qkv, slopes, L);
  });
  check_launch("attention_forward", dims);
}

void attention_backward(__nv_bfloat16* dqkv, const __nv_bfloat16* dout, const __nv_bfloat16* qkv,
                        const __nv_bfloat16* out, const float* lse, const float* slopes,
                        const AttentionDims& dims, void* workspace, cudaStream_t stream) {
  validate("attention_backward", dims);
  const Layout L{dims.T, dims.H, dims.D};
  float* d_out_dot = static_cast<float*>(workspace);
  const dim3 dot_grid(static_cast<unsigned>((dims.T * dims.H + 255) / 256),
                      static_cast<unsigned>(dims.B));
  row_dot_kernel<<<dot_grid, 256, 0, stream>>>(d_out_dot, dout, out, L);
  check_launch("attention_backward", dims);
  const dim3 grid(static_cast<unsigned>((dims.T + kTile - 1) / kTile),
                  static_cast<unsigned>(dims.B * dims.H));
  dispatch_head_dim(dims.D, [&](auto d) {
    constexpr int D = decltype(d)::value;
    dkdv_kernel<D><<<grid, kTile, 0, stream>>>(dqkv, dout, qkv, lse, d_out_dot, slopes, L);
    dq_kernel<D><<<grid, kTile, 0, stream>>>(dqkv, dout, qkv, lse, d_out_dot, slopes, L);
  });
  check_launch("attention_backward", dims);
}

}  // namespace alibi::cuda
