#include "backend/select.h"

#include <algorithm>
#include <stdexcept>

#include "cpu/cpu_backend.h"
#include "dist/local_communicator.h"
#include "dist/mpi_communicator.h"
#ifdef ALIBI_HAVE_CUDA
#include "cuda/cuda_backend.h"
#include "cuda/nccl_communicator.h"
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

std::unique_ptr<Backend> make_gpu_backend(int local_rank, const RuntimeConfig& runtime) {
#ifdef ALIBI_HAVE_CUDA
  // Under a launcher that hides all but one GPU per rank, that one is 0.
  return make_cuda_backend(local_rank % std::max(1, cuda_device_count()),
                           {runtime.deterministic, runtime.skip_negligible_keys, runtime.attention_forward,
                            runtime.attention_backward});
#else
  (void)local_rank;
  (void)runtime;
  throw std::logic_error("make_gpu_backend called in a build without CUDA");
#endif
}

}  // namespace

std::unique_ptr<Backend> make_backend(const RuntimeConfig& runtime, int local_rank) {
  std::string why_not;
  switch (runtime.device) {
    case DeviceChoice::Cpu:
      return make_cpu_backend(runtime.threads);
    case DeviceChoice::Auto:
      if (cuda_backend_available()) return make_gpu_backend(local_rank, runtime);
      return make_cpu_backend(runtime.threads);
    case DeviceChoice::Cuda:
      if (!cuda_backend_available(&why_not))
        throw std::runtime_error("runtime.device = cuda, but " + why_not + " (use runtime.device: cpu)");
      return make_gpu_backend(local_rank, runtime);
  }
  throw std::logic_error("unknown runtime.device");
}

std::unique_ptr<Communicator> make_communicator(Backend& backend, const CommunicatorSetup& setup) {
  if (backend.device() == Device::CPU) {
    if (setup.world_size == 1) return make_local_communicator();
    return make_mpi_communicator(setup.timeout, setup.label);
  }
#ifdef ALIBI_HAVE_CUDA
  NcclSetup nccl;
  nccl.rank = setup.rank;
  nccl.world_size = setup.world_size;
  nccl.stream = backend.native_stream();
  nccl.share_from_rank0 = setup.share_from_rank0;
  nccl.timeout = setup.timeout;
  nccl.label = setup.label;
  return make_nccl_communicator(nccl);
#else
  throw std::logic_error("a CUDA backend in a build without CUDA");
#endif
}

}  // namespace alibi
