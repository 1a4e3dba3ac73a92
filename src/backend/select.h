// The one place that chooses and builds a backend.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "config/config.h"

namespace alibi {

// `auto` picks CUDA when this build has the CUDA backend and a GPU is
// visible, else the CPU. Asking for `cuda` where that is impossible is an
// error that says why.
std::unique_ptr<Backend> make_backend(const RuntimeConfig& runtime);

// Whether this build includes the CUDA backend and sees a GPU.
bool cuda_backend_available(std::string* why_not = nullptr);

}  // namespace alibi
