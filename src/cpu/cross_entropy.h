// Softmax cross-entropy per row, the CPU reference.
#pragma once

#include <cstdint>

namespace alibi::cpu {

// losses[n] = logsumexp(logits[n]) - logits[n][t_n], evaluated with the row
// maximum subtracted. A negative target marks a row that is not scored: loss
// 0 and (when compute_grad) gradient 0. When compute_grad, logits is
// overwritten in place with dloss_scale * (softmax(logits[n]) - onehot(t_n)).
// Throws std::out_of_range for a target >= V.
template <typename T>
void cross_entropy(T* losses, T* logits, const int32_t* targets, int64_t N, int64_t V,
                   bool compute_grad, T dloss_scale);

}  // namespace alibi::cpu
