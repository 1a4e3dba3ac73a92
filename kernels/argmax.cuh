// The most likely token of each row of logits on the GPU (greedy decoding);
// the semantics are cpu/argmax.h's.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace alibi::cuda {

void argmax(int32_t* tokens, const __nv_bfloat16* logits, int64_t N, int64_t V, int64_t limit, cudaStream_t stream);

}  // namespace alibi::cuda
