// Helpers for the kernel tests (matmul, attention): device buffers, bf16
// rounding on the host, random inputs and error norms, and a scoped
// environment variable (for the kernels' switches).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/random.h"

namespace alibi::test {

// Skips the test (with a message) on machines without a GPU.
#define ALIBI_SKIP_WITHOUT_GPU()                                            \
  do {                                                                      \
    int n_gpus = 0;                                                         \
    if (cudaGetDeviceCount(&n_gpus) != cudaSuccess || n_gpus == 0)          \
      GTEST_SKIP() << "no CUDA GPU";                                        \
  } while (0)

inline void cuda_check(cudaError_t st, const char* what) {
  if (st != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(st));
}

// bf16 as raw bits, rounded to nearest even (inputs here are finite).
inline uint16_t to_bf16_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
inline float from_bf16_bits(uint16_t b) {
  const uint32_t u = uint32_t(b) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}
inline float round_bf16(float x) { return from_bf16_bits(to_bf16_bits(x)); }

// Normal(0, scale^2) values already rounded to bf16, so the float reference
// sees exactly what the GPU sees.
inline std::vector<float> random_bf16_values(size_t n, uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  std::vector<float> x(n);
  for (float& v : x) v = round_bf16(static_cast<float>(scale * rng.normal()));
  return x;
}

// Device memory of n elements of T, freed on scope exit.
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(size_t n) : n_(n) { cuda_check(cudaMalloc(&ptr_, std::max<size_t>(n, 1) * sizeof(T)), "cudaMalloc"); }
  ~DeviceArray() { cudaFree(ptr_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  T* get() const { return ptr_; }
  size_t size() const { return n_; }
  // 0xFF bytes: NaN in bf16 and fp32, so any element a kernel fails to write shows up.
  void poison() { cuda_check(cudaMemset(ptr_, 0xFF, n_ * sizeof(T)), "cudaMemset"); }
  void upload(const std::vector<T>& host) {
    if (host.size() != n_) throw std::invalid_argument("DeviceArray::upload: size mismatch");
    cuda_check(cudaMemcpy(ptr_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice), "upload");
  }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    cuda_check(cudaMemcpy(host.data(), ptr_, n_ * sizeof(T), cudaMemcpyDeviceToHost), "download");
    return host;
  }

 private:
  T* ptr_ = nullptr;
  size_t n_;
};

// The device pointer of bf16 values a DeviceArray holds as raw bits.
inline __nv_bfloat16* bf16(const DeviceArray<uint16_t>& a) { return reinterpret_cast<__nv_bfloat16*>(a.get()); }

inline std::vector<uint16_t> to_bf16(const std::vector<float>& x) {
  std::vector<uint16_t> b(x.size());
  for (size_t i = 0; i < x.size(); ++i) b[i] = to_bf16_bits(x[i]);
  return b;
}
inline std::vector<float> from_bf16(const std::vector<uint16_t>& b) {
  std::vector<float> x(b.size());
  for (size_t i = 0; i < b.size(); ++i) x[i] = from_bf16_bits(b[i]);
  return x;
}

// ||got - want|| / ||want||; NaN anywhere in got gives NaN (fails any bound).
inline double relative_l2_error(const std::vector<float>& got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = double(got[i]) - double(want[i]);
    num += d * d;
    den += double(want[i]) * want[i];
  }
  if (den == 0) return std::sqrt(num);
  return std::sqrt(num / den);
}

inline double max_abs_error(const std::vector<float>& got, const std::vector<float>& want) {
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = std::fabs(double(got[i]) - double(want[i]));
    if (!(d <= worst)) worst = d;  // propagates NaN
  }
  return worst;
}

inline double max_abs(const std::vector<float>& x) {
  double m = 0;
  for (float v : x) m = std::max(m, std::fabs(double(v)));
  return m;
}

// Asserts relative L2 <= rel_l2 and max |error| <= max_rel * max(max |want|, 1e-3).
// The floor is for references that are exactly zero (dq and dk at T = 1): the
// GPU then returns rounding noise of the unit-scale inputs, not zero.
inline void expect_close(const std::vector<float>& got, const std::vector<float>& want,
                         double rel_l2, double max_rel, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  const double l2 = relative_l2_error(got, want);
  const double worst = max_abs_error(got, want);
  const double bound = max_rel * std::max(max_abs(want), 1e-3);
  EXPECT_LE(l2, rel_l2) << what << ": relative L2 error";
  EXPECT_LE(worst, bound) << what << ": max abs error (scale " << max_abs(want) << ")";
}

// Sets an environment variable for the scope, then restores its previous
// value (or its absence), also when a failed assertion leaves the test
// early. For the switches that the kernels read at every launch.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) {
      had_value_ = true;
      old_value_ = old;
    }
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (had_value_)
      setenv(name_.c_str(), old_value_.c_str(), 1);
    else
      unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, old_value_;
  bool had_value_ = false;
};

}  // namespace alibi::test
