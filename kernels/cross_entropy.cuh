// Fused softmax cross-entropy over bf16 logits with fp32 math.
// Semantics are Backend::cross_entropy (backend.h).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace alibi::cuda {

// losses[n] = logsumexp(logits[n]) - logits[n][t_n]. When compute_grad,
// logits[n] is overwritten in place with dloss_scale * (softmax - onehot).
// A negative target: loss 0 and (with compute_grad) a zero gradient row.
// A target >= V cannot be checked without a host round trip: its loss is NaN
// (so training stops visibly) and its gradient row is zero.
void cross_entropy(float* losses, __nv_bfloat16* logits, const int32_t* targets, int64_t N,
                   int64_t V, bool compute_grad, float dloss_scale, cudaStream_t stream);

}  // namespace alibi::cuda
