// The one place that chooses and builds a backend, and the communicator that
// goes with it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "config/config.h"
#include "dist/communicator.h"

namespace alibi {

// `auto` picks CUDA when this build has the CUDA backend and a GPU is
// visible, else the CPU. Asking for `cuda` where that is impossible is an
// error that says why. `local_rank` picks the GPU (modulo the visible ones).
std::unique_ptr<Backend> make_backend(const RuntimeConfig& runtime, int local_rank = 0);

// Whether this build includes the CUDA backend and sees a GPU.
bool cuda_backend_available(std::string* why_not = nullptr);

struct CommunicatorSetup {
  int rank = 0, world_size = 1;
  // Rank 0's bytes on every rank (the NCCL id): MPI_Bcast, TCP or a file.
  std::function<std::vector<uint8_t>(const std::vector<uint8_t>&)> share_from_rank0;
  std::chrono::milliseconds timeout{300000};
  std::string label;  // "rank 3/8"
};

// NCCL on the CUDA backend; on the CPU, MPI (which must be running) or, for
// a single rank, the identity.
std::unique_ptr<Communicator> make_communicator(Backend& backend, const CommunicatorSetup& setup);

}  // namespace alibi
