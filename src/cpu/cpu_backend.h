// The fp32 CPU backend: the numerical reference the CUDA backend is tested
// against, and a trainer for tiny models. Every op is deterministic: results
// are bitwise identical for any thread count.
#pragma once

#include <memory>

#include "backend/backend.h"

namespace alibi {

// threads: OpenMP threads for the ops; 0 uses all cores.
std::unique_ptr<Backend> make_cpu_backend(int threads = 0);

}  // namespace alibi
