// LayerNorm over the last dimension, the CPU reference.
#pragma once

#include <cstdint>

namespace alibi::cpu {

// out = (inp - mean) * rstd * weight + bias per row, rstd = 1/sqrt(var + eps)
// (biased variance). mean and rstd [N] are saved for backward; either may be
// nullptr when not needed.
template <typename T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* weight, const T* bias,
                       int64_t N, int64_t C, T eps);

// dinp is overwritten (it may alias dout), or accumulated with add_to_dinp (no alias);
// dweight and dbias are accumulated (+=), each channel summing rows in ascending order.
template <typename T>
void layernorm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp,
                        const T* weight, const T* mean, const T* rstd, int64_t N, int64_t C,
                        bool add_to_dinp = false);

}  // namespace alibi::cpu
