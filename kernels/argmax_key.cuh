// Greedy choice as one 64-bit maximum, for kernels whose blocks each see part
// of a row of logits and meet through atomicMax (decode_step.cu): a key is
// larger for a larger value and, among equal values, for the earlier index,
// so the largest key names cpu/argmax.h's choice (the first of the largest;
// NaNs never enter; -0 ranks with +0; a row without candidates gives 0).
// Compiled for the host too: tests/kernels/argmax_key_test.cpp.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/host_device.h"

namespace alibi::cuda {

ALIBI_HOST_DEVICE inline uint32_t float_bits(float v) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(v);
#else
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits;
#endif
}

// The key of a (non-NaN) value at an index < 2^32 - 1; never 0.
ALIBI_HOST_DEVICE inline unsigned long long argmax_key(float value, int64_t index) {
  const uint32_t bits = float_bits(value == 0.f ? 0.f : value);
  const uint32_t ordered = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  return (static_cast<unsigned long long>(ordered) << 32) | (0xffffffffu - static_cast<uint32_t>(index));
}

// The index a key names; 0 for no key (0).
ALIBI_HOST_DEVICE inline int32_t argmax_index(unsigned long long key) {
  return key == 0 ? 0 : static_cast<int32_t>(0xffffffffu - static_cast<uint32_t>(key & 0xffffffffu));
}

}  // namespace alibi::cuda
