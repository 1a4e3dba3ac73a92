// Elementwise ops: residual add, scaling and inverted dropout, the CPU reference.
#pragma once

#include <cstdint>

namespace alibi::cpu {

// out = a + b; out may alias a or b.
template <typename T>
void add(T* out, const T* a, const T* b, int64_t n);

// x *= factor, in place.
template <typename T>
void scale(T* x, int64_t n, T factor);

// Inverted dropout in place: element i is kept iff uniform_at(seed, i) >= p
// and then scaled by 1/(1-p); dropped elements become 0. p >= 1 drops all.
// The mask is a pure function of (seed, i), so the same call is also the
// backward (dropout_backward below is that call, named for readability).
template <typename T>
void dropout_forward(T* x, int64_t n, float p, uint64_t seed);
template <typename T>
void dropout_backward(T* dx, int64_t n, float p, uint64_t seed);

}  // namespace alibi::cpu
