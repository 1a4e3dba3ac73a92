#include "core/random.h"
#include "kernels/elementwise.cuh"
#include "kernels/map.cuh"

namespace alibi::cuda {
namespace {

struct AddOp {
  __device__ float operator()(int64_t, float a, float b) const { return a + b; }
};

struct ScaleOp {
  float factor;
  __device__ float operator()(int64_t, float x) const { return x * factor; }
};

// The mask is a pure function of (seed, flat index): the same
// alibi::uniform_at the CPU calls, compiled for the device.
struct DropoutOp {
  float p, keep_scale;
  uint64_t seed;
  __device__ float operator()(int64_t i, float x) const {
    const bool keep = uniform_at(seed, static_cast<uint64_t>(i)) >= p;
    return keep ? x * keep_scale : 0.f;
  }
};

struct IdentityOp {
  __device__ float operator()(int64_t, float x) const { return x; }
};

}  // namespace

template <typename T>
void add(T* out, const T* a, const T* b, int64_t n, cudaStream_t stream) {
  launch_map2(out, a, b, n, AddOp{}, stream, "add");
}

template <typename T>
void scale(T* x, int64_t n, float factor, cudaStream_t stream) {
  launch_map1(x, x, n, ScaleOp{factor}, stream, "scale");
}

template <typename T>
void dropout(T* x, int64_t n, float p, uint64_t seed, cudaStream_t stream) {
  if (p <= 0.f) return;  // uniform_at >= 0 keeps everything, as on the CPU
  const float keep_scale = p >= 1.f ? 0.f : 1.f / (1.f - p);
  launch_map1(x, x, n, DropoutOp{p, keep_scale, seed}, stream, "dropout");
}

void convert(__nv_bfloat16* dst, const float* src, int64_t n, cudaStream_t stream) {
  launch_map1(dst, src, n, IdentityOp{}, stream, "convert f32->bf16");
}
void convert(float* dst, const __nv_bfloat16* src, int64_t n, cudaStream_t stream) {
  launch_map1(dst, src, n, IdentityOp{}, stream, "convert bf16->f32");
}

#define ALIBI_INSTANTIATE(T)                                              \
  template void add<T>(T*, const T*, const T*, int64_t, cudaStream_t);    \
  template void scale<T>(T*, int64_t, float, cudaStream_t);               \
  template void dropout<T>(T*, int64_t, float, uint64_t, cudaStream_t);
ALIBI_INSTANTIATE(float)
ALIBI_INSTANTIATE(__nv_bfloat16)
#undef ALIBI_INSTANTIATE

}  // namespace alibi::cuda
