// The CUDA backend: bf16 activations and working weights, fp32 parameter
// gradients, master weights, Adam moments and statistics (backend.h). All
// work runs on one CUDA stream in issue order. Plain C++ header: select.cpp
// includes it without the CUDA toolkit's headers.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "config/config.h"

namespace alibi {

struct CudaBackendOptions {
  // Kernels that sum in a fixed order where the fast ones do not (the
  // attention backward's dQ): runtime.deterministic.
  bool deterministic = false;
  // Forward-only attention leaves out the key tiles that ALiBi makes
  // negligible (kernels/attention_key_skip.cuh): runtime.skip_negligible_keys.
  bool skip_negligible_keys = true;
  // runtime.attention_kernel and runtime.attention_backward.
  AttentionKernelChoice attention_forward = AttentionKernelChoice::Auto;
  AttentionKernelChoice attention_backward = AttentionKernelChoice::Auto;
};

// Builds the backend on `device`. Throws std::runtime_error when the device
// cannot be used.
std::unique_ptr<Backend> make_cuda_backend(int device = 0, CudaBackendOptions options = {});

// Whether a CUDA device is visible. No GPU or no driver gives false and the
// reason; it never crashes.
bool cuda_device_available(std::string* why_not = nullptr);

// Visible CUDA devices; 0 where none or no driver.
int cuda_device_count();

// Free and total memory of the current device, in bytes.
void cuda_memory_info(size_t* free_bytes, size_t* total_bytes);

}  // namespace alibi
