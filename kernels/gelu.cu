#include "kernels/gelu.cuh"
#include "kernels/gelu_math.cuh"
#include "kernels/map.cuh"

namespace alibi::cuda {
namespace {

struct GeluForwardOp {
  __device__ float operator()(int64_t, float x) const { return x * gelu_gate(x); }
};

struct GeluBackwardOp {
  __device__ float operator()(int64_t, float x, float dout) const { return dout * gelu_grad(x); }
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
