// Joining the data-parallel job: from the launcher's environment
// (dist/launch_env.h) and dist.rendezvous to a communicator on the backend.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "config/config.h"
#include "dist/communicator.h"
#include "dist/launch_env.h"

namespace alibi {

// Whether this process should start MPI: this build has it, and an MPI
// launcher started the process or dist.rendezvous asks for MPI.
bool process_group_uses_mpi(const LaunchInfo& launch, const DistConfig& dist);

// The communicator of this rank (collective: every rank calls it). Rank 0's
// NCCL id travels by MPI_Bcast when MPI runs, else by the resolved
// dist.rendezvous address; a rank that never arrives ends the job after
// dist.timeout_s with a message.
std::unique_ptr<Communicator> join_process_group(Backend& backend, const LaunchInfo& launch, const DistConfig& dist);

}  // namespace alibi
