// Causal self-attention with ALiBi, the CPU reference.
//
// For head h, query i and key j <= i:
//   s_ij = (q_i . k_j) / sqrt(D) - slopes[h] * (i - j)
//   out_i = sum_j softmax_j(s_i)_j v_j,   lse[b,h,i] = log sum_j exp(s_ij)
// qkv is [B,T,3,H,D], out [B,T,H*D], lse [B,H,T]. Rows are processed one at a
// time with O(T*D) scratch per (b,h): no T x T matrix is ever formed, so long
// evaluation sequences fit. Each (b,h) belongs to one thread.
#pragma once

#include <cstdint>

namespace alibi::cpu {

// lse may be nullptr (forward-only use).
template <typename T>
void attention_forward(T* out, T* lse, const T* qkv, const T* slopes, int64_t B, int64_t Tlen,
                       int64_t H, int64_t D);

// dqkv [B,T,3,H,D] is overwritten with the gradients of q, k and v.
// Probabilities are recomputed from lse; D_i = dout_i . out_i replaces the
// row sum of dP * P in the softmax backward.
template <typename T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* out, const T* lse,
                        const T* slopes, int64_t B, int64_t Tlen, int64_t H, int64_t D);

}  // namespace alibi::cpu
