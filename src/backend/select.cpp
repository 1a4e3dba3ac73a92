#include "backend/select.h"

#include <stdexcept>

#include "cpu/cpu_backend.h"

namespace alibi {

bool cuda_backend_available(std::string* why_not) {
  // The CUDA backend arrives with the next milestone (kernels/); until then
  // every build is CPU-only at run time.
  if (why_not) *why_not = "this build of alibi-lm has no CUDA backend yet";
  return false;
}

std::unique_ptr<Backend> make_backend(const RuntimeConfig& runtime) {
  std::string why_not;
  switch (runtime.device) {
    case DeviceChoice::Cpu:
      return make_cpu_backend(runtime.threads);
    case DeviceChoice::Auto:
      if (cuda_backend_available()) break;
      return make_cpu_backend(runtime.threads);
    case DeviceChoice::Cuda:
      if (!cuda_backend_available(&why_not))
        throw std::runtime_error("runtime.device = cuda, but " + why_not + " (use runtime.device: cpu)");
      break;
  }
  throw std::logic_error("CUDA backend requested but not linked");
}

}  // namespace alibi
