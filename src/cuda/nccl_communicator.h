// Collectives of the CUDA backend over NCCL. Plain C++ header (select.cpp
// includes it without the CUDA toolkit's headers).
//
// The collectives run on a stream of their own that first waits for the
// backend's stream, so the backend keeps computing while they run; join()
// makes the backend's stream wait for them. A watchdog thread checks every
// collective's completion event and NCCL's asynchronous error state: a
// collective that does not complete within the time-out, or an NCCL error,
// aborts the communicator and ends the process with a message.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dist/communicator.h"

namespace alibi {

struct NcclSetup {
  int rank = 0, world_size = 1;
  void* stream = nullptr;  // the backend's cudaStream_t
  // Gives every rank rank 0's NCCL unique id (MPI_Bcast, TCP or a file).
  std::function<std::vector<uint8_t>(const std::vector<uint8_t>&)> share_from_rank0;
  std::chrono::milliseconds timeout{300000};
  std::string label;  // "rank 3/8", for messages
};

// Joins the NCCL communicator of all ranks (collective: every rank calls it).
std::unique_ptr<Communicator> make_nccl_communicator(const NcclSetup& setup);

}  // namespace alibi
