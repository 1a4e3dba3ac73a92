#include "kernels/dependent_launch.cuh"

namespace alibi::cuda {

// One GPU per process (the trainer's rule), so the answer is asked once.
bool dependent_launch_supported() {
  static const bool supported = [] {
    int device = 0, major = 0;
    return cudaGetDevice(&device) == cudaSuccess &&
           cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess && major >= 9;
  }();
  return supported;
}

}  // namespace alibi::cuda
