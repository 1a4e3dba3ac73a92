// GELU, tanh approximation (GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
#pragma once

#include <cstdint>

namespace alibi::cpu {

template <typename T>
void gelu_forward(T* out, const T* inp, int64_t n);

// dinp = dout * gelu'(inp), overwritten; dinp may alias dout.
template <typename T>
void gelu_backward(T* dinp, const T* inp, const T* dout, int64_t n);

}  // namespace alibi::cpu
