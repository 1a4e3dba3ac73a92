// Random numbers that are identical on every platform and backend.
//
// Everything random in alibi-lm is either a pure function of (seed, counter)
// (dropout masks, so backward can regenerate them and CUDA can match the CPU)
// or drawn from Rng, whose whole state is one 64-bit word that checkpoints
// save and restore.
#pragma once

#include <cmath>
#include <cstdint>

// The CUDA dropout kernels call mix64 and uniform_at on the device, so the
// mask is the same bits on both backends by construction (one definition).
#include "core/host_device.h"

namespace alibi {

// SplitMix64 finalizer: a bijective mix of a 64-bit word.
ALIBI_HOST_DEVICE constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A uniform float in [0, 1) that depends only on (seed, counter).
ALIBI_HOST_DEVICE constexpr float uniform_at(uint64_t seed, uint64_t counter) {
  uint64_t bits = mix64(seed ^ mix64(counter + 0x9e3779b97f4a7c15ULL));
  return static_cast<float>(bits >> 40) * (1.0f / 16777216.0f);  // 24 random bits
}

// Derives an independent seed for a named use (a layer, a step, a site).
constexpr uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0) {
  return mix64(mix64(mix64(seed ^ mix64(a + 1)) ^ (b + 0x632be59bd9b4e019ULL)) ^ (c + 0x85ebca6b));
}

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : state_(seed) {}
  uint64_t next_u64() { return mix64(state_ += 0x9e3779b97f4a7c15ULL); }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n) { return n ? next_u64() % n : 0; }
  // Standard normal (Box-Muller).
  double normal() {
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  uint64_t state() const { return state_; }
  void set_state(uint64_t s) { state_ = s; }

 private:
  uint64_t state_;
};

}  // namespace alibi
