// The fp32 CPU backend: the numerical reference the CUDA backend is tested
// against, and a trainer for tiny models. Every op is deterministic: results
// are bitwise identical for any thread count.
//
// Argument checks throw std::invalid_argument naming the op ("cpu matmul_forward: ...").
// Row-wise ops (embedding, layernorm, matmul, cross-entropy) accept any leading
// dims ([B,T,C] or [N,C]) and check the last dim and the row count; attention
// checks element counts against AttentionShape; position ops need [B,T,C] and
// rotary [B,T,3,H,D]. Token ids and targets out of range throw std::out_of_range.
#pragma once

#include <memory>

#include "backend/backend.h"

namespace alibi {

// threads: OpenMP threads for the ops; 0 uses all cores.
std::unique_ptr<Backend> make_cpu_backend(int threads = 0);

}  // namespace alibi
