#include "backend/select.h"

#include <stdexcept>

#include "cpu/cpu_backend.h"
#ifdef ALIBI_HAVE_CUDA
#include "cuda/cuda_backend.h"
#endif

namespace alibi {

bool cuda_backend_available(std::string* why_not) {
#ifdef ALIBI_HAVE_CUDA
  return cuda_device_available(why_not);
#else
  if (why_not) *why_not = "this build has no CUDA backend (no CUDA toolkit at configure time)";
  return false;
#endif
}

namespace {

std::unique_ptr<Backend> make_gpu_backend() {
#ifdef ALIBI_HAVE_CUDA
  return make_cuda_backend(0);
#else
  throw std::logic_error("make_gpu_backend called in a build without CUDA");
#endif
}

}  // namespace

std::unique_ptr<Backend> make_backend(const RuntimeConfig& runtime) {
  std::string why_not;
  switch (runtime.device) {
    case DeviceChoice::Cpu:
      return make_cpu_backend(runtime.threads);
    case DeviceChoice::Auto:
      if (cuda_backend_available()) return make_gpu_backend();
      return make_cpu_backend(runtime.threads);
    case DeviceChoice::Cuda:
      if (!cuda_backend_available(&why_not))
        throw std::runtime_error("runtime.device = cuda, but " + why_not + " (use runtime.device: cpu)");
      return make_gpu_backend();
  }
  throw std::logic_error("unknown runtime.device");
}

}  // namespace alibi
