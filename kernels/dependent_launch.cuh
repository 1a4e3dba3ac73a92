// Programmatic dependent launch (Hopper): a kernel launched this way may start
// while the kernel before it in the stream is still running, do the work that
// does not depend on it (a matrix-vector kernel loads its weights), and then
// wait for it. A decode step is a chain of kernels of a few microseconds
// each, so the launch gap between them is a good part of the step; this hides
// it. Internal to kernels/*.cu.
//
// The contract of a kernel launched with launch_dependent():
//   - it reads nothing an earlier kernel writes, and writes nothing, before
//     wait_for_previous_kernels();
//   - it calls allow_next_kernel_to_start() after that wait (not before: the
//     next kernel's early start would then chain on and fill the GPU with
//     waiting blocks).
// Transitivity holds: once a kernel's wait returns, every kernel before it in
// the stream has finished and its writes are visible.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "cuda/cuda_check.cuh"
#include "kernels/device_info.cuh"

namespace alibi::cuda {

__device__ __forceinline__ void wait_for_previous_kernels() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void allow_next_kernel_to_start() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Whether the current device can start kernels early (compute capability 9+);
// elsewhere launch_dependent() is an ordinary launch.
inline bool dependent_launch_supported() { return sm90_or_newer(); }

template <typename... Params, typename... Args>
void launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
                      Args&&... args) {
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid, config.blockDim = block, config.dynamicSmemBytes = shared_bytes, config.stream = stream;
  config.attrs = &attribute;
  config.numAttrs = dependent_launch_supported() ? 1 : 0;
  check_cuda(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...), "cudaLaunchKernelEx");
}

}  // namespace alibi::cuda
