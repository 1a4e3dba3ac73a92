// Linear layers over a few rows (a decode step: one token of each sequence)
// as matrix-vector kernels that stream the weight once at memory bandwidth;
// cuBLASLt's products at one row reach a fraction of it. The semantics are
// Backend's matmul_forward, matmul_residual_forward and matmul_gelu_forward,
// optionally after layernorm_forward of the input, which every block then
// computes for itself, so the norm costs no launch and no pass of its own.
// Launched as dependent kernels (dependent_launch.cuh): a block loads its
// first weights while the kernel before it still runs.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace alibi::cuda {

constexpr int64_t kMatvecMaxRows = 8;

// The input's LayerNorm, written out as layernorm_forward writes it (out,
// mean and rstd, each optional) by the first block.
struct MatvecNorm {
  const __nv_bfloat16* weight = nullptr;  // [C]
  const __nv_bfloat16* bias = nullptr;    // [C]
  float eps = 0.f;
  __nv_bfloat16* out = nullptr;  // [N, C]
  float* mean = nullptr;         // [N]
  float* rstd = nullptr;         // [N]
};

enum class MatvecEpilogue {
  Bias,      // out = x @ weight^T + bias
  Residual,  // out = residual + x @ weight^T + bias
  Gelu,      // pre = x @ weight^T + bias, out = GELU(pre)
};

struct MatvecArgs {
  __nv_bfloat16* out = nullptr;           // [N, OC]
  const __nv_bfloat16* inp = nullptr;     // [N, C]
  const __nv_bfloat16* weight = nullptr;  // [OC, C]
  const __nv_bfloat16* bias = nullptr;    // [OC], optional
  int64_t N = 0, C = 0, OC = 0;
  MatvecEpilogue epilogue = MatvecEpilogue::Bias;
  const __nv_bfloat16* residual = nullptr;  // Residual: [N, OC]
  __nv_bfloat16* pre = nullptr;             // Gelu: [N, OC]
  const MatvecNorm* norm = nullptr;         // LayerNorm the input first, or not
};

// Whether the matrix-vector path takes these: 1 <= N <= kMatvecMaxRows, C a
// multiple of 8 whose N rows (padded to a power of two, and the norm's
// weight and bias) fit in 96 KiB of shared memory, and the weight, input and
// norm parameters 16-byte aligned.
bool matvec_suits(const MatvecArgs& a);

void matvec(const MatvecArgs& a, cudaStream_t stream);

}  // namespace alibi::cuda
