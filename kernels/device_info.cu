#include "kernels/device_info.cuh"

#include <cuda_runtime.h>

namespace alibi::cuda {

ComputeCapability compute_capability() {
  static const ComputeCapability cc = [] {
    int device = 0;
    ComputeCapability c;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&c.major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&c.minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) {
      (void)cudaGetLastError();
      return ComputeCapability{};
    }
    return c;
  }();
  return cc;
}

}  // namespace alibi::cuda
