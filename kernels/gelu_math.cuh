// GELU's tanh approximation on the device, for the kernels that apply it
// (gelu.cu's elementwise pass, matvec.cu's and gemm_sm90.cu's epilogues). Internal to kernels/*.cu.
#pragma once

namespace alibi::cuda {

constexpr float kSqrt2OverPi = 0.79788456080286535588f;
constexpr float kGeluCubic = 0.044715f;

// e^(-2u) = 2^(x (A + B x^2)): the constants folded into one polynomial in
// base 2, so that the exponent takes three instructions, not six.
constexpr float kGateA = -2.f * 1.44269504088896341f * kSqrt2OverPi;  // -2 log2(e) sqrt(2/pi)
constexpr float kGateB = kGateA * kGeluCubic;

// s = 0.5 (1 + tanh(u)) = sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3):
// the same formulation as the CPU reference (one exp instead of a tanh).
// exp2f is the hardware's approximate exponential (one instruction). The
// division stays IEEE-rounded: the approximate one (__fdividef) let ptxas
// schedule gemm_sm90's GELU epilogue into 92-124 bytes of spills. The
// power overflowing to inf for very negative x gives the right limit 0.
__device__ __forceinline__ float gelu_gate(float x) {
  return 1.f / (1.f + exp2f(x * fmaf(kGateB, x * x, kGateA)));
}

// d/dx [x s(u)] = s + 2 x u' s (1 - s), s = gelu_gate(x).
__device__ __forceinline__ float gelu_grad(float x) {
  const float s = gelu_gate(x);
  const float du = kSqrt2OverPi * (1.f + 3.f * kGeluCubic * x * x);
  return s + 2.f * x * du * s * (1.f - s);
}

}  // namespace alibi::cuda
