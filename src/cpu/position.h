// Position methods other than ALiBi (which lives in attention), the CPU reference.
#pragma once

#include <cstdint>

namespace alibi::cpu {

// Learned: x[b,t,:] += wpe[t,:] for t < T (wpe has at least T rows).
template <typename T>
void learned_position_forward(T* x, const T* wpe, int64_t B, int64_t Tlen, int64_t C);
// dwpe[t,:] += sum_b dout[b,t,:], batches in ascending order.
template <typename T>
void learned_position_backward(T* dwpe, const T* dout, int64_t B, int64_t Tlen, int64_t C);

// Sinusoidal: x[b,t,2i] += sin(t / 10000^(2i/C)), x[b,t,2i+1] += cos(same).
// The angle is evaluated in double so long sequences keep their precision.
template <typename T>
void sinusoidal_position_forward(T* x, int64_t B, int64_t Tlen, int64_t C);

// Rotary, rotate-half form, on q and k of qkv [B,T,3,H,D] in place: the pair
// (d, d + D/2) at position t is rotated by angle t * base^(-2d/D). D must be even.
template <typename T>
void rotary_forward(T* qkv, int64_t B, int64_t Tlen, int64_t H, int64_t D, double base);
// The transpose (= inverse) rotation applied to the gradients of q and k;
// the gradient of v passes through unchanged.
template <typename T>
void rotary_backward(T* dqkv, int64_t B, int64_t Tlen, int64_t H, int64_t D, double base);

}  // namespace alibi::cpu
