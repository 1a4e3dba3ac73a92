// Linear layer, the CPU reference: out = inp @ weight^T + bias.
//
// Every output element is one fused multiply-add chain over the reduction
// index in ascending order, computed by exactly one thread, so results are
// bitwise identical for any thread count (and for any SIMD width: the vector
// code only evaluates independent elements side by side).
#pragma once

#include <cstdint>

namespace alibi::cpu {

// out[N,OC] = inp[N,C] @ weight[OC,C]^T + bias[OC]; bias may be nullptr.
template <typename T>
void matmul_forward(T* out, const T* inp, const T* weight, const T* bias, int64_t N, int64_t C,
                    int64_t OC);

// dinp[N,C] = dout @ weight (overwritten; skipped when dinp is nullptr),
// dweight[OC,C] += dout^T @ inp, dbias[OC] += column sums of dout (skipped
// when nullptr).
template <typename T>
void matmul_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                     int64_t N, int64_t C, int64_t OC);

// sums[C] += column sums of x[N,C] (a linear layer's bias gradient), rows in
// ascending order, one thread a block of columns; rows ld elements apart
// (0: C), for C columns of wider rows.
template <typename T>
void add_column_sums(T* sums, const T* x, int64_t N, int64_t C, int64_t ld = 0);

}  // namespace alibi::cpu
