#include "cuda/cuda_check.cuh"
#include "kernels/common.cuh"
#include "kernels/layernorm.cuh"

namespace alibi::cuda {
namespace {

// Forward and input-gradient kernels: one warp per row. Rows are a few
// hundred to a few thousand channels, so a warp keeps every lane busy and
// needs no shared memory; the lanes stride the row, so reads coalesce.
constexpr int kRowsPerBlock = 8;
constexpr int kRowThreads = kRowsPerBlock * kWarp;

__global__ void forward_kernel(bf16* out, float* mean, float* rstd, const bf16* inp,
                               const bf16* weight, const bf16* bias, int64_t N, int64_t C,
                               float eps) {
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (n >= N) return;  // whole warps exit together: the shuffles stay full
  const bf16* x = inp + n * C;
  // Two passes over the row (the second from L1/L2): the variance of
  // (x - mean) does not cancel catastrophically, as in the CPU reference.
  float sum = 0.f;
  for (int64_t c = lane; c < C; c += kWarp) sum += __bfloat162float(x[c]);
  const float m = warp_sum(sum) / static_cast<float>(C);
  float sq = 0.f;
  for (int64_t c = lane; c < C; c += kWarp) {
    const float d = __bfloat162float(x[c]) - m;
    sq += d * d;
  }
  const float s = rsqrtf(warp_sum(sq) / static_cast<float>(C) + eps);
  bf16* y = out + n * C;
  for (int64_t c = lane; c < C; c += kWarp) {
    const float xhat = (__bfloat162float(x[c]) - m) * s;
    y[c] = __float2bfloat16_rn(xhat * __bfloat162float(weight[c]) + __bfloat162float(bias[c]));
  }
  if (lane == 0) {
    mean[n] = m;
    rstd[n] = s;
  }
}

__global__ void input_grad_kernel(bf16* dinp, const bf16* dout, const bf16* inp, const bf16* weight,
                                  const float* mean, const float* rstd, int64_t N, int64_t C,
                                  bool add_to_dinp) {
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (n >= N) return;
  const bf16* x = inp + n * C;
  const bf16* dy = dout + n * C;
  const float m = mean[n], s = rstd[n];
  float sum_g = 0.f, sum_g_xhat = 0.f;
  for (int64_t c = lane; c < C; c += kWarp) {
    const float g = __bfloat162float(dy[c]) * __bfloat162float(weight[c]);
    sum_g += g;
    sum_g_xhat += g * ((__bfloat162float(x[c]) - m) * s);
  }
  const float mean_g = warp_sum(sum_g) / static_cast<float>(C);
  const float mean_g_xhat = warp_sum(sum_g_xhat) / static_cast<float>(C);
  // Each element of dinp is written by the lane that reads the same element
  // of dout, after reading it: dinp may alias dout.
  bf16* dx = dinp + n * C;
  for (int64_t c = lane; c < C; c += kWarp) {
    const float xhat = (__bfloat162float(x[c]) - m) * s;
    const float g = __bfloat162float(dy[c]) * __bfloat162float(weight[c]);
    const float grad = s * (g - mean_g - xhat * mean_g_xhat);
    dx[c] = __float2bfloat16_rn(add_to_dinp ? __bfloat162float(dx[c]) + grad : grad);
  }
}

// Parameter gradients, pass 1: block (channel tile of 32, row chunk). Thread
// (x, y) sums rows y, y+8, ... of the chunk for channel x; the 8 partial sums
// are then added in y order. A chunk's result goes to partial[chunk][c].
constexpr int kChunkRows = 256;
constexpr int kRowLanes = 8;

__global__ void param_partials_kernel(float* partial_w, float* partial_b, const bf16* dout,
                                      const bf16* inp, const float* mean, const float* rstd,
                                      int64_t N, int64_t C) {
  __shared__ float shared_w[kRowLanes][kWarp], shared_b[kRowLanes][kWarp];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kWarp + threadIdx.x;
  const int64_t chunk = blockIdx.y;
  const int64_t row_end = min(N, (chunk + 1) * kChunkRows);
  float sw = 0.f, sb = 0.f;
  if (c < C) {
    for (int64_t n = chunk * kChunkRows + threadIdx.y; n < row_end; n += kRowLanes) {
      const float dy = __bfloat162float(dout[n * C + c]);
      sw += dy * ((__bfloat162float(inp[n * C + c]) - mean[n]) * rstd[n]);
      sb += dy;
    }
  }
  shared_w[threadIdx.y][threadIdx.x] = sw;
  shared_b[threadIdx.y][threadIdx.x] = sb;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    float w = 0.f, b = 0.f;
    for (int y = 0; y < kRowLanes; ++y) {
      w += shared_w[y][threadIdx.x];
      b += shared_b[y][threadIdx.x];
    }
    partial_w[chunk * C + c] = w;
    partial_b[chunk * C + c] = b;
  }
}

// Pass 2: one thread per channel adds the chunks in ascending order.
__global__ void param_reduce_kernel(float* dweight, float* dbias, const float* partial_w,
                                    const float* partial_b, int64_t chunks, int64_t C) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float w = 0.f, b = 0.f;
  for (int64_t k = 0; k < chunks; ++k) {
    w += partial_w[k * C + c];
    b += partial_b[k * C + c];
  }
  dweight[c] += w;
  dbias[c] += b;
}

int64_t chunk_count(int64_t N) { return (N + kChunkRows - 1) / kChunkRows; }

}  // namespace

void layernorm_forward(bf16* out, float* mean, float* rstd, const bf16* inp, const bf16* weight,
                       const bf16* bias, int64_t N, int64_t C, float eps, cudaStream_t stream) {
  if (N == 0) return;
  forward_kernel<<<blocks_for(N, kRowsPerBlock), kRowThreads, 0, stream>>>(out, mean, rstd, inp,
                                                                          weight, bias, N, C, eps);
  check_launch("layernorm_forward", {{"N", N}, {"C", C}});
}

size_t layernorm_backward_workspace_bytes(int64_t N, int64_t C) {
  return 2 * static_cast<size_t>(chunk_count(N) * C) * sizeof(float);
}

void layernorm_backward(bf16* dinp, float* dweight, float* dbias, const bf16* dout, const bf16* inp,
                        const bf16* weight, const float* mean, const float* rstd, int64_t N,
                        int64_t C, void* workspace, size_t workspace_bytes, cudaStream_t stream,
                        bool add_to_dinp) {
  if (N == 0) return;
  const Dims dims = {{"N", N}, {"C", C}};
  if (workspace_bytes < layernorm_backward_workspace_bytes(N, C))
    throw_cuda_error("layernorm_backward", dims, "workspace too small");
  const int64_t chunks = chunk_count(N);
  float* partial_w = static_cast<float*>(workspace);
  float* partial_b = partial_w + chunks * C;
  // Parameter gradients first: they read dout, which dinp may overwrite.
  const dim3 grid(blocks_for(C, kWarp), static_cast<unsigned>(chunks));
  param_partials_kernel<<<grid, dim3(kWarp, kRowLanes), 0, stream>>>(partial_w, partial_b, dout, inp,
                                                                     mean, rstd, N, C);
  check_launch("layernorm_backward (partials)", dims);
  param_reduce_kernel<<<blocks_for(C, 256), 256, 0, stream>>>(dweight, dbias, partial_w, partial_b,
                                                              chunks, C);
  check_launch("layernorm_backward (reduce)", dims);
  input_grad_kernel<<<blocks_for(N, kRowsPerBlock), kRowThreads, 0, stream>>>(dinp, dout, inp, weight,
                                                                             mean, rstd, N, C, add_to_dinp);
  check_launch("layernorm_backward", dims);
}

}  // namespace alibi::cuda
