// Collectives of the CPU backend over MPI_COMM_WORLD (MPI must be running).
// Blocking calls, each watched by the watchdog.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "dist/communicator.h"

namespace alibi {

// Throws std::runtime_error when this build has no MPI or MPI is not running.
std::unique_ptr<Communicator> make_mpi_communicator(std::chrono::milliseconds timeout, const std::string& label);

}  // namespace alibi
