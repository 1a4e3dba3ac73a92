// AdamW and the gradient norm, the CPU reference.
#pragma once

#include <cstdint>

namespace alibi::cpu {

struct AdamWHyper {
  double lr = 0, beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0;  // decoupled: param -= lr * weight_decay * param
  double grad_scale = 1;    // multiplies the gradient first
  int64_t step = 1;         // 1-based, for bias correction
};

// One AdamW step over n elements:
//   g = grad * grad_scale
//   m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g^2
//   param -= lr * (m / (1 - beta1^step) / (sqrt(v / (1 - beta2^step)) + eps)
//                  + weight_decay * param)
template <typename T>
void adamw_update(T* param, const T* grad, T* m, T* v, int64_t n, const AdamWHyper& hp);

// sum x_i^2 in double. Fixed-size chunks are summed in parallel and the chunk
// sums combined in chunk order, so the result does not depend on the thread count.
template <typename T>
double sum_of_squares(const T* x, int64_t n);

}  // namespace alibi::cpu
