// Shared helpers of the GPU tests: each op runs on the CUDA backend and on the
// fp32 CPU reference with the same inputs (rounded to bf16 where the CUDA
// side stores bf16), and the results are compared with stated tolerances.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/select.h"
#include "core/random.h"
#include "cpu/cpu_backend.h"
#include "cuda/cuda_backend.h"

// First statement of every GPU test: skips (with the reason) without a GPU.
#define ALIBI_REQUIRE_GPU() \
  if (std::string why; !alibi::cuda_backend_available(&why)) GTEST_SKIP() << "no CUDA GPU: " << why

namespace alibi::cudatest {

inline int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// A tensor together with the memory it views.
struct Owned {
  std::unique_ptr<Buffer> buffer;
  Tensor t;
};

inline Owned allocate(Backend& be, const std::vector<int64_t>& shape, DType dtype) {
  Owned o;
  o.buffer = be.allocate(static_cast<size_t>(numel_of(shape)) * dtype_size(dtype));
  o.t = Tensor(o.buffer->data(), shape, dtype, be.device());
  return o;
}

// Normal(0, scale) values, reproducible from the seed.
inline std::vector<float> random_values(int64_t n, uint64_t seed, float scale = 1.f) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(rng.normal()) * scale;
  return v;
}

// Host bf16 rounding (nearest even), independent of the GPU's conversion.
inline float round_bf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  bits = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&x, &bits, 4);
  return x;
}
inline std::vector<float> round_bf16(std::vector<float> v) {
  for (float& x : v) x = round_bf16(x);
  return v;
}

// The pair of backends under test and conversions between host and them.
struct Backends {
  std::unique_ptr<Backend> gpu = make_cuda_backend();
  std::unique_ptr<Backend> cpu = make_cpu_backend(1);

  // A GPU tensor of `dtype` holding `values`: uploaded as f32 and converted
  // with copy(), as the model does for its working weights.
  Owned to_gpu(const std::vector<float>& values, const std::vector<int64_t>& shape, DType dtype) {
    Owned f32 = allocate(*gpu, shape, DType::F32);
    gpu->upload(f32.t, values.data());
    if (dtype == DType::F32) return f32;
    Owned out = allocate(*gpu, shape, dtype);
    gpu->copy(out.t, f32.t);
    return out;
  }
  Owned to_gpu_i32(const std::vector<int32_t>& values) {
    Owned o = allocate(*gpu, {static_cast<int64_t>(values.size())}, DType::I32);
    gpu->upload(o.t, values.data());
    return o;
  }
  Owned to_cpu(const std::vector<float>& values, const std::vector<int64_t>& shape) {
    Owned o = allocate(*cpu, shape, DType::F32);
    cpu->upload(o.t, values.data());
    return o;
  }
  Owned to_cpu_i32(const std::vector<int32_t>& values) {
    Owned o = allocate(*cpu, {static_cast<int64_t>(values.size())}, DType::I32);
    cpu->upload(o.t, values.data());
    return o;
  }
  // Any GPU tensor back to host f32 (bf16 goes through copy() to f32 first).
  std::vector<float> download(const Tensor& t) {
    std::vector<float> host(static_cast<size_t>(t.numel()));
    if (t.dtype == DType::F32) {
      gpu->download(host.data(), t);
    } else {
      Owned f32 = allocate(*gpu, t.shape, DType::F32);
      gpu->copy(f32.t, t);
      gpu->download(host.data(), f32.t);
    }
    return host;
  }
  std::vector<float> download_cpu(const Tensor& t) {
    std::vector<float> host(static_cast<size_t>(t.numel()));
    cpu->download(host.data(), t);
    return host;
  }
  // All bits set: NaN in f32 and bf16, so an element the op fails to write
  // fails the comparison.
  void poison(const Tensor& t) {
    gpu->synchronize();
    ASSERT_EQ(cudaMemset(t.data, 0xff, t.nbytes()), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  }
};

// Passes when every value is finite and max |got - want| <= tol * max |want|
// (tol relative to the largest magnitude: bf16 keeps ~3 significant digits
// of each value, so small values near large ones get an absolute error).
inline ::testing::AssertionResult close(const std::vector<float>& got, const std::vector<float>& want,
                                        double tol) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " vs " << want.size();
  double max_ref = 0, max_err = 0;
  size_t worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i]))
      return ::testing::AssertionFailure() << "element " << i << " is " << got[i] << " (want " << want[i] << ")";
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(want[i])));
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (err > max_err) max_err = err, worst = i;
  }
  const double limit = tol * std::max(max_ref, 1e-30);
  if (max_err <= limit) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max abs error " << max_err << " at " << worst << " (got " << got[worst]
                                       << ", want " << want[worst] << ") exceeds " << tol << " x max |want| "
                                       << max_ref;
}

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Tolerances used throughout (relative to the largest reference magnitude).
constexpr double kBf16Tol = 1e-2;  // bf16 outputs: 8 significant bits, plus fp32 math order
constexpr double kF32Tol = 1e-5;   // fp32 outputs computed from the same inputs, other order

}  // namespace alibi::cudatest
