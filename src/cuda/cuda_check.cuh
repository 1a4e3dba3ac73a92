// Error checking for every CUDA runtime call, cuBLASLt call and kernel launch.
// A failure throws std::runtime_error naming the op, its shapes and the CUDA
// error text, e.g.
//   "cuda: layernorm_forward [N=16384, C=768]: an illegal memory access was encountered"
// Kernel errors are asynchronous: an illegal access usually surfaces at a
// later call. Set ALIBI_CUDA_SYNC=1 to synchronize after every launch so the
// error names the kernel that caused it (slow; for debugging).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

namespace alibi::cuda {

// ("N", 16384): one named dimension of the failing op, for the message.
using Dim = std::pair<const char*, int64_t>;
using Dims = std::initializer_list<Dim>;

// "layernorm_forward [N=16384, C=768]"
std::string describe_op(const char* op, Dims dims);

[[noreturn]] void throw_cuda_error(const char* op, Dims dims, const std::string& error_text);

// Whether ALIBI_CUDA_SYNC=1 asks for a synchronize after every launch.
bool sync_after_launch();

inline void check_cuda(cudaError_t err, const char* op, Dims dims = {}) {
  if (err != cudaSuccess) throw_cuda_error(op, dims, cudaGetErrorString(err));
}

inline void check_cublas(cublasStatus_t status, const char* op, Dims dims = {}) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw_cuda_error(op, dims, std::string("cuBLASLt status ") + std::to_string(static_cast<int>(status)));
}

// Call right after a kernel launch: reports bad launch configurations at once
// and, with ALIBI_CUDA_SYNC=1, faults inside the kernel too.
inline void check_launch(const char* op, Dims dims = {}) {
  check_cuda(cudaGetLastError(), op, dims);
  if (sync_after_launch()) check_cuda(cudaDeviceSynchronize(), op, dims);
}

}  // namespace alibi::cuda
