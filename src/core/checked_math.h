// Integer arithmetic that reports overflow instead of wrapping. Sizes and
// offsets read from files (checkpoints, shards) are untrusted: a crafted
// value must fail a bounds check, never wrap around to pass one.
#pragma once

#include <optional>

namespace alibi {

// a + b, or nullopt when the exact sum does not fit T.
template <class T>
std::optional<T> checked_add(T a, T b) {
  T sum;
  if (__builtin_add_overflow(a, b, &sum)) return std::nullopt;
  return sum;
}

// a * b, or nullopt when the exact product does not fit T.
template <class T>
std::optional<T> checked_mul(T a, T b) {
  T product;
  if (__builtin_mul_overflow(a, b, &product)) return std::nullopt;
  return product;
}

}  // namespace alibi
