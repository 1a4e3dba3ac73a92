#include "kernels/gelu.cuh"
#include "kernels/map.cuh"

namespace alibi::cuda {
namespace {

constexpr float kSqrt2OverPi = 0.79788456080286535588f;
constexpr float kCubic = 0.044715f;

// s = 0.5 (1 + tanh(u)) = sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3):
// the same formulation as the CPU reference (one exp instead of a tanh).
// __expf overflowing to inf for very negative u gives the right limit 0.
__device__ __forceinline__ float gelu_gate(float x) {
  const float u = kSqrt2OverPi * (x + kCubic * x * x * x);
  return 1.f / (1.f + __expf(-2.f * u));
}

struct GeluForwardOp {
  __device__ float operator()(int64_t, float x) const { return x * gelu_gate(x); }
};

// d/dx [x s(u)] = s + 2 x u' s (1 - s).
struct GeluBackwardOp {
  __device__ float operator()(int64_t, float x, float dout) const {
    const float s = gelu_gate(x);
    const float du = kSqrt2OverPi * (1.f + 3.f * kCubic * x * x);
    return dout * (s + 2.f * x * du * s * (1.f - s));
  }
};

}  // namespace

template <typename T>
void gelu_forward(T* out, const T* inp, int64_t n, cudaStream_t stream) {
  launch_map1(out, inp, n, GeluForwardOp{}, stream, "gelu_forward");
}

template <typename T>
void gelu_backward(T* dinp, const T* inp, const T* dout, int64_t n, cudaStream_t stream) {
  launch_map2(dinp, inp, dout, n, GeluBackwardOp{}, stream, "gelu_backward");
}

template void gelu_forward<float>(float*, const float*, int64_t, cudaStream_t);
template void gelu_forward<__nv_bfloat16>(__nv_bfloat16*, const __nv_bfloat16*, int64_t, cudaStream_t);
template void gelu_backward<float>(float*, const float*, const float*, int64_t, cudaStream_t);
template void gelu_backward<__nv_bfloat16>(__nv_bfloat16*, const __nv_bfloat16*, const __nv_bfloat16*,
                                           int64_t, cudaStream_t);

}  // namespace alibi::cuda
