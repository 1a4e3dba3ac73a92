#include "cpu/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace alibi::cpu {
namespace {

template <typename T>
T row_max(const T* x, int64_t V) {
  return *std::max_element(x, x + V);
}

// log sum_v exp(x_v), without touching x.
template <typename T>
T log_sum_exp(const T* x, int64_t V) {
  const T m = row_max(x, V);
  T sum = 0;
  for (int64_t v = 0; v < V; ++v) sum += std::exp(x[v] - m);
  return m + std::log(sum);
}

// Overwrites x with scale * (softmax(x) - onehot(target)) and returns the loss.
// The exponentials are stored during the sum so each is evaluated once.
template <typename T>
T loss_and_grad(T* x, int64_t V, int32_t target, T scale) {
  const T m = row_max(x, V);
  const T target_logit = x[target];
  T sum = 0;
  for (int64_t v = 0; v < V; ++v) {
    x[v] = std::exp(x[v] - m);
    sum += x[v];
  }
  const T inv_sum = T(1) / sum;
  for (int64_t v = 0; v < V; ++v) x[v] = scale * (x[v] * inv_sum);
  x[target] -= scale;
  return m + std::log(sum) - target_logit;
}

void check_targets(const int32_t* targets, int64_t N, int64_t V) {
  for (int64_t n = 0; n < N; ++n)
    if (targets[n] >= V)
      throw std::out_of_range("cross_entropy: target " + std::to_string(targets[n]) +
                              " at row " + std::to_string(n) + " is outside [0, " +
                              std::to_string(V) + ")");
}

}  // namespace

template <typename T>
void cross_entropy(T* losses, T* logits, const int32_t* targets, int64_t N, int64_t V,
                   bool compute_grad, T dloss_scale) {
  check_targets(targets, N, V);
#pragma omp parallel for
  for (int64_t n = 0; n < N; ++n) {
    T* x = logits + n * V;
    const int32_t target = targets[n];
    if (target < 0) {  // not scored
      losses[n] = 0;
      if (compute_grad) std::fill_n(x, V, T(0));
    } else if (compute_grad) {
      losses[n] = loss_and_grad(x, V, target, dloss_scale);
    } else {
      losses[n] = log_sum_exp(x, V) - x[target];
    }
  }
}

template void cross_entropy<float>(float*, float*, const int32_t*, int64_t, int64_t, bool, float);
template void cross_entropy<double>(double*, double*, const int32_t*, int64_t, int64_t, bool,
                                    double);

}  // namespace alibi::cpu
