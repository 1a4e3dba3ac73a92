#include "cuda/cuda_check.cuh"
#include "kernels/common.cuh"
#include "kernels/position.cuh"

namespace alibi::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void learned_forward_kernel(bf16* x, const bf16* wpe, int64_t total, int64_t TC) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= total) return;
  x[i] = __float2bfloat16_rn(__bfloat162float(x[i]) + __bfloat162float(wpe[i % TC]));
}

// One thread per (t, c) = j: consecutive threads read consecutive channels.
__global__ void learned_backward_kernel(float* dwpe, const bf16* dout, int64_t B, int64_t TC, bool accumulate) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= TC) return;
  float acc = accumulate ? dwpe[j] : 0.f;
  for (int64_t b = 0; b < B; ++b) acc += __bfloat162float(dout[b * TC + j]);
  dwpe[j] = acc;
}

// Double precision for the angle: t * freq reaches thousands of radians and
// fp32 would lose the low bits; it is computed once per (t, c), not per b.
__global__ void sinusoidal_kernel(bf16* x, int64_t B, int64_t T, int64_t C) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= T * C) return;
  const int64_t t = j / C, c = j % C;
  const double inv_freq = pow(10000.0, -static_cast<double>(2 * (c / 2)) / static_cast<double>(C));
  const double angle = static_cast<double>(t) * inv_freq;
  const float enc = static_cast<float>(c % 2 == 0 ? sin(angle) : cos(angle));
  for (int64_t b = 0; b < B; ++b) {
    bf16& v = x[b * T * C + j];
    v = __float2bfloat16_rn(__bfloat162float(v) + enc);
  }
}

// One thread per (t, d < D/2): the angle is evaluated once in double and
// applied to every batch, head, and to both q and k (v is untouched).
__global__ void rotary_kernel(bf16* qkv, int64_t B, int64_t T, int64_t H, int64_t D, double base,
                              float sign) {
  const int64_t half = D / 2;
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= T * half) return;
  const int64_t t = j / half, d = j % half;
  const double angle =
      static_cast<double>(t) * pow(base, -static_cast<double>(2 * d) / static_cast<double>(D));
  const float cos_a = static_cast<float>(cos(angle));
  const float sin_a = sign * static_cast<float>(sin(angle));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t which = 0; which < 2; ++which)
      for (int64_t h = 0; h < H; ++h) {
        bf16* x = qkv + (((b * T + t) * 3 + which) * H + h) * D;
        const float x1 = __bfloat162float(x[d]), x2 = __bfloat162float(x[d + half]);
        x[d] = __float2bfloat16_rn(x1 * cos_a - x2 * sin_a);
        x[d + half] = __float2bfloat16_rn(x2 * cos_a + x1 * sin_a);
      }
}

void rotate(bf16* qkv, int64_t B, int64_t T, int64_t H, int64_t D, float base, float sign,
            cudaStream_t stream, const char* op) {
  const Dims dims = {{"B", B}, {"T", T}, {"H", H}, {"D", D}};
  if (D % 2 != 0) throw_cuda_error(op, dims, "head dim must be even");
  if (B * T * H * D == 0) return;
  rotary_kernel<<<blocks_for(T * (D / 2), kThreads), kThreads, 0, stream>>>(qkv, B, T, H, D, base, sign);
  check_launch(op, dims);
}

}  // namespace

void learned_position_forward(bf16* x, const bf16* wpe, int64_t B, int64_t T, int64_t C,
                              cudaStream_t stream) {
  if (B * T * C == 0) return;
  learned_forward_kernel<<<blocks_for(B * T * C, kThreads), kThreads, 0, stream>>>(x, wpe, B * T * C, T * C);
  check_launch("learned_position_forward", {{"B", B}, {"T", T}, {"C", C}});
}

void learned_position_backward(float* dwpe, const bf16* dout, int64_t B, int64_t T, int64_t C,
                               cudaStream_t stream, bool accumulate) {
  if (T * C == 0) return;
  learned_backward_kernel<<<blocks_for(T * C, kThreads), kThreads, 0, stream>>>(dwpe, dout, B, T * C, accumulate);
  check_launch("learned_position_backward", {{"B", B}, {"T", T}, {"C", C}});
}

void sinusoidal_position_forward(bf16* x, int64_t B, int64_t T, int64_t C, cudaStream_t stream) {
  if (B * T * C == 0) return;
  sinusoidal_kernel<<<blocks_for(T * C, kThreads), kThreads, 0, stream>>>(x, B, T, C);
  check_launch("sinusoidal_position_forward", {{"B", B}, {"T", T}, {"C", C}});
}

void rotary_forward(bf16* qkv, int64_t B, int64_t T, int64_t H, int64_t D, float base,
                    cudaStream_t stream) {
  rotate(qkv, B, T, H, D, base, 1.f, stream, "rotary_forward");
}

void rotary_backward(bf16* dqkv, int64_t B, int64_t T, int64_t H, int64_t D, float base,
                     cudaStream_t stream) {
  // A rotation's transpose is its inverse: turn back by the same angle.
  rotate(dqkv, B, T, H, D, base, -1.f, stream, "rotary_backward");
}

}  // namespace alibi::cuda
